package main

import (
	"seatd/gateway"
	"seatd/inventory"
)

// demoTrain is a train program for the demo, from public facts: a real
// high-speed line's stations, in order, and the seating of a Fuxing
// (CR400AF) consist as China Railway sells it: business class 1+2
// abreast (A | C F), first class 2+2 (A C | D F), second class 2+3
// (A B C | D F); letters skip E, so A and F are windows and C and D the
// aisle in every class. Prices are the full-route fares in fen, as
// 12306 quoted them.
type demoTrain struct {
	id, name string
	stops    []string
	train    inventory.Train
	fares    [3]int64 // business, first, second
}

// demoTrains are demo-train, on the Beijing–Shanghai high-speed railway
// (an 8-carriage CR400AF: 576 seats in China Railway's plan, 583 here),
// and demo-train-gz, on the Beijing–Guangzhou one (a 16-carriage
// CR400AF-A).
var demoTrains = []demoTrain{
	{
		id: "demo-train", name: "G Beijing South - Shanghai Hongqiao",
		stops: []string{"Beijing South", "Tianjin South", "Jinan West", "Xuzhou East", "Nanjing South", "Changzhou North",
			"Suzhou North", "Shanghai Hongqiao"},
		train: inventory.Train{Carriages: 8, Rows: 18,
			Categories: []inventory.GridCategory{{ID: "business", First: 1, Last: 1}, {ID: "first", First: 2, Last: 2}, {ID: "second", First: 3, Last: 8}},
			Seating: []inventory.TrainSeating{{First: 1, Last: 1, Rows: 5, Letters: inventory.BusinessClass},
				{First: 2, Last: 2, Rows: 7, Letters: inventory.FirstClass}}},
		fares: [3]int64{174800, 93300, 55300},
	},
	{
		id: "demo-train-gz", name: "G Beijing West - Guangzhou South",
		stops: []string{"Beijing West", "Shijiazhuang", "Zhengzhou East", "Wuhan", "Changsha South", "Guangzhou South"},
		train: inventory.Train{Carriages: 16, Rows: 18,
			Categories: []inventory.GridCategory{{ID: "business", First: 1, Last: 1}, {ID: "first", First: 2, Last: 3}, {ID: "second", First: 4, Last: 16}},
			Seating: []inventory.TrainSeating{{First: 1, Last: 1, Rows: 6, Letters: inventory.BusinessClass},
				{First: 2, Last: 3, Rows: 12, Letters: inventory.FirstClass}}},
		fares: [3]int64{272400, 138000, 86200},
	},
}

// program is the train as POST /v1/programs takes it: real-name, at most
// five travellers an order, and a refunded ticket back on sale
// (refund_resells), as 12306 sells; a lone seat beside the aisle is sold
// like any other (allow_orphans), since most travellers travel alone.
func (d demoTrain) program() (map[string]any, error) {
	layout, err := d.train.Layout()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"id": d.id, "name": d.name, "stops": d.stops,
		"real_name": true, "max_seats_per_hold": 5, "max_seats_per_user": 5, "allow_orphans": true, "refund_resells": true,
		"categories": []map[string]any{{"id": "business", "name": "Business class", "price_cents": d.fares[0]},
			{"id": "first", "name": "First class", "price_cents": d.fares[1]},
			{"id": "second", "name": "Second class", "price_cents": d.fares[2]}},
		"layout": gateway.LayoutJSON(layout),
	}, nil
}
