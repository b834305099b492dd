package inventory

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IDType is the kind of identity document a ticket holder names.
type IDType uint8

// ID types. Never renumber: they are in the log and in snapshots.
const (
	// IDResident is the resident identity card of GB 11643-1999: 17
	// digits (region, date of birth, sequence) and an ISO 7064 MOD 11-2
	// check character, 0-9 or X.
	IDResident IDType = 0
	// IDPassport is a passport: 5-20 letters and digits (ICAO Doc 9303
	// gives 9 characters for the machine-readable zone's document number;
	// issuers print longer numbers, which the ticket must match).
	IDPassport IDType = 1
)

var idTypeNames = [...]string{"resident_id", "passport"}

// String returns the type as the HTTP contract spells it.
func (t IDType) String() string {
	if int(t) < len(idTypeNames) {
		return idTypeNames[t]
	}
	return "unknown"
}

// ParseIDType reads a type as the HTTP contract spells it; "" is
// IDResident.
func ParseIDType(s string) (IDType, bool) {
	switch s {
	case "", "resident_id":
		return IDResident, true
	case "passport":
		return IDPassport, true
	}
	return 0, false
}

// Holder is the named person of one seat in a real-name program. The one
// seat per person per leg range rule compares IDNumber alone, whatever the
// type (a resident ID's number sent as a passport's is the same person),
// so IDNumber must be in its normal form (NormalizeIDNumber): Hold refuses
// any other.
type Holder struct {
	Name     string
	IDType   IDType
	IDNumber string
}

// NormalizeIDNumber puts an ID number as a person may type it into the one
// form the engine compares and stores: Unicode compatibility forms folded
// (NFKC: full-width digits and letters, as Chinese input methods type
// them, become ASCII), every white space removed (numbers are often
// written in groups), and letters in upper case (the check character X of
// a resident ID, passport letters). It is for the edges, before a request
// reaches the log, so that every replica stores the same bytes whatever
// Unicode tables its binary carries.
func NormalizeIDNumber(s string) string {
	s = norm.NFKC.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// NormalizeName trims a holder's name of surrounding white space and
// folds Unicode compatibility forms (NFKC), at the edges as
// NormalizeIDNumber.
func NormalizeName(s string) string {
	return strings.TrimSpace(norm.NFKC.String(s))
}

// checkHolder validates one holder as Hold does at time now (the
// command's) and says which field is wrong: a name of 1-MaxNameLen bytes
// of UTF-8 without control characters or U+FFFD (the replacement for
// what was not text: two different names that were not text would read
// as one), a known ID type, and an ID number in normal form that is well
// formed for its type.
func checkHolder(h *Holder, now int64) Field {
	if h.Name == "" || len(h.Name) > MaxNameLen || !utf8.ValidString(h.Name) ||
		strings.ContainsFunc(h.Name, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) ||
		strings.TrimSpace(h.Name) != h.Name {
		return FieldHolderName
	}
	switch h.IDType {
	case IDResident:
		if !validResidentID(h.IDNumber, now) {
			return FieldHolderIDNumber
		}
	case IDPassport:
		if !validPassport(h.IDNumber) {
			return FieldHolderIDNumber
		}
	default:
		return FieldHolderIDType
	}
	return FieldNone
}

// residentWeights are the weights of GB 11643-1999's check character:
// 2^(17-i) mod 11 for position i (ISO 7064 MOD 11-2).
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// provinces are the first two digits of the administrative division codes
// of GB/T 2260 that resident ID numbers begin with: the provinces,
// autonomous regions and municipalities, then Taiwan (71), Hong Kong (81),
// Macao (82), and 83, which residence permits of Taiwan residents carry.
var provinces = [100]bool{11: true, 12: true, 13: true, 14: true, 15: true, 21: true, 22: true, 23: true,
	31: true, 32: true, 33: true, 34: true, 35: true, 36: true, 37: true, 41: true, 42: true, 43: true, 44: true, 45: true, 46: true,
	50: true, 51: true, 52: true, 53: true, 54: true, 61: true, 62: true, 63: true, 64: true, 65: true, 71: true, 81: true, 82: true, 83: true}

// validResidentID checks an 18-character resident ID number: 17 digits
// whose weighted sum gives the check character (sum mod 11 -> "10X98765432"),
// a province of GB/T 2260 in characters 1-2, and a real date of birth in
// characters 7-14, from 1900 to the day of now (the command's time, by
// UTC+8, China's time, in which the number was issued).
func validResidentID(s string, now int64) bool {
	if len(s) != 18 {
		return false
	}
	sum := 0
	for i := range 17 {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		sum += int(c-'0') * residentWeights[i]
	}
	if s[17] != "10X98765432"[sum%11] {
		return false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	if !provinces[num(0, 2)] {
		return false
	}
	year, month, day := num(6, 10), num(10, 12), num(12, 14)
	if year < 1900 || month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	y, m, d := time.Unix(0, now).In(chinaTime).Date()
	return day <= days && year*10000+month*100+day <= y*10000+int(m)*100+d
}

// chinaTime is UTC+8, the time of the dates of birth in resident IDs.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// validPassport checks a passport number in normal form: 5-20 characters
// of A-Z and 0-9.
func validPassport(s string) bool {
	if len(s) < 5 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// holderKey is what the one-seat-per-person rule compares: the normalised
// number, whatever its type. Two people whose documents of different
// types share a number are so rare that refusing the second is the safer
// mistake; telling them apart would let one person hold a seat per type.
func holderKey(h *Holder) string { return h.IDNumber }
