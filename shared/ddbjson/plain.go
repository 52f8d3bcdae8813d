package ddbjson

import (
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AppendPlainItemLine appends item as one plain JSON object and a newline:
// the `--format json` line. Types are unwrapped: S → string, N → number
// when it survives a float64 (see AppendPlainNumber) else string, B →
// base64 string, BOOL → true/false, NULL → null, SS/NS/BS/L → arrays, M →
// object. Keys are sorted, as in AppendItemLine, so output is deterministic.
func AppendPlainItemLine(dst []byte, item map[string]types.AttributeValue) ([]byte, error) {
	dst, err := AppendPlainMap(dst, item)
	if err != nil {
		return dst, err
	}
	return append(dst, '\n'), nil
}

// AppendPlainMap appends a map as a plain JSON object.
func AppendPlainMap(dst []byte, m map[string]types.AttributeValue) ([]byte, error) {
	return appendObject(dst, m, AppendPlainValue)
}

// AppendPlainValue appends one value with its DynamoDB type unwrapped.
func AppendPlainValue(dst []byte, av types.AttributeValue) ([]byte, error) {
	var err error
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		dst = appendString(dst, v.Value)
	case *types.AttributeValueMemberN:
		dst = AppendPlainNumber(dst, v.Value)
	case *types.AttributeValueMemberB:
		dst = appendBase64(dst, v.Value)
	case *types.AttributeValueMemberBOOL:
		dst = strconv.AppendBool(dst, v.Value)
	case *types.AttributeValueMemberNULL:
		dst = append(dst, "null"...)
	case *types.AttributeValueMemberSS:
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberNS:
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendPlainNumber(dst, s)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberBS:
		dst = append(dst, '[')
		for i, b := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBase64(dst, b)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberL:
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = AppendPlainValue(dst, e); err != nil {
				return dst, fmt.Errorf("list element %d: %w", i, err)
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberM:
		if dst, err = AppendPlainMap(dst, v.Value); err != nil {
			return dst, err
		}
	default:
		return dst, fmt.Errorf("unsupported attribute value type %T", av)
	}
	return dst, nil
}

// AppendPlainNumber appends a DynamoDB number as a JSON number when it
// round-trips exactly through a float64, and as a JSON string otherwise.
//
// "Round-trips" compares values, not text: the number is parsed to the
// nearest float64, that float64 is formatted back in its shortest form, and
// the two decimals are compared exactly (as big.Rat). So "1.50" and
// "-1.0E-130" are numbers (written 1.5 and -1e-130: same value, shortest
// text), while "12345678901234567890123456789012345678" or "0.1000000000000000001"
// stay strings, because a reader parsing a double would get another value.
func AppendPlainNumber(dst []byte, n string) []byte {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || (f == 0 && !isZeroDecimal(n)) {
		// Overflow, underflow to zero, or not a number at all: only the
		// text keeps the value. (Checking underflow here also keeps
		// sameDecimal away from absurd exponents.)
		return appendString(dst, n)
	}
	start := len(dst)
	dst = appendShortestFloat(dst, f)
	if short := dst[start:]; string(short) != n && string(short) != trimFraction(n) && !sameDecimal(n, string(short)) {
		return appendString(dst[:start], n)
	}
	return dst
}

// appendShortestFloat formats f as encoding/json does: plain decimals for
// ordinary magnitudes, an exponent for very large or small ones.
func appendShortestFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// sameDecimal reports whether two decimal strings denote the same value.
// big.Rat is exact for any decimal, however many digits.
func sameDecimal(a, b string) bool {
	ra, ok := new(big.Rat).SetString(a)
	if !ok {
		return false
	}
	rb, ok := new(big.Rat).SetString(b)
	return ok && ra.Cmp(rb) == 0
}

// isZeroDecimal reports whether every mantissa digit of n is 0.
func isZeroDecimal(n string) bool {
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case c == 'e' || c == 'E':
			return true
		case c >= '1' && c <= '9':
			return false
		}
	}
	return true
}

// trimFraction drops trailing fraction zeros ("1.50" → "1.5", "2.0" → "2")
// so the common cases skip the exact comparison, which allocates.
func trimFraction(n string) string {
	dot := -1
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '.':
			dot = i
		case 'e', 'E':
			return n
		}
	}
	if dot < 0 {
		return n
	}
	end := len(n)
	for end > dot+1 && n[end-1] == '0' {
		end--
	}
	if end == dot+1 {
		end = dot
	}
	return n[:end]
}
