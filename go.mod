module seatd

go 1.26
