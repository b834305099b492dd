package inventory

import (
	"strings"
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
// seat per person per leg range rule compares (IDType, IDNumber), so
// IDNumber must be in its normal form (NormalizeIDNumber): Hold refuses
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

// checkHolder validates one holder as Hold does and says which field is
// wrong: a name of 1-MaxNameLen bytes of UTF-8 without control
// characters, a known ID type, and an ID number in normal form that is
// well formed for its type.
func checkHolder(h *Holder) Field {
	if h.Name == "" || len(h.Name) > MaxNameLen || !utf8.ValidString(h.Name) || strings.ContainsFunc(h.Name, unicode.IsControl) ||
		strings.TrimSpace(h.Name) != h.Name {
		return FieldHolderName
	}
	switch h.IDType {
	case IDResident:
		if !validResidentID(h.IDNumber) {
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

// validResidentID checks an 18-character resident ID number: 17 digits
// whose weighted sum gives the check character (sum mod 11 -> "10X98765432"),
// and a real date of birth in characters 7-14 (a calendar check only: the
// engine has no clock to say whether it is in the future).
func validResidentID(s string) bool {
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
	year, month, day := num(6, 10), num(10, 12), num(12, 14)
	if year < 1800 || month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}

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

// holderKey is what the one-seat-per-person rule compares: the ID type and
// the normalised number.
func holderKey(h *Holder) string { return string(rune('0'+h.IDType)) + h.IDNumber }
