package parquetfile

import (
	"math/bits"
	"strconv"
)

// decimalPrecision is the precision of every DECIMAL column: 38 digits is
// what DynamoDB numbers carry and what a 16-byte FIXED_LEN_BYTE_ARRAY (and
// Athena's widest decimal) holds.
const decimalPrecision = 38

// decimalBytes is the width of the FIXED_LEN_BYTE_ARRAY behind DECIMAL(38,s).
const decimalBytes = 16

// number is a parsed DynamoDB number: ±coef × 10^-scale, with coef free of
// leading and trailing zeros (zero has digits == 0). scale is negative for
// numbers like 1E+125.
type number struct {
	neg    bool
	hi, lo uint64 // coef as a 128-bit magnitude; meaningful only when digits <= 38
	digits int    // significant digits in coef
	scale  int
}

// maxExponentDigits bounds the exponent text parseNumber accepts: DynamoDB
// exponents are within ±130, so anything longer is not a DynamoDB number
// and would only risk overflowing scale arithmetic.
const maxExponentDigits = 6

// parseNumber parses DynamoDB number text ([+-]digits[.digits][e[+-]digits]).
// It does not allocate: it runs for every numeric value a worker writes.
func parseNumber(s string) (number, bool) {
	var n number
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		n.neg = s[i] == '-'
		i++
	}
	sawDigit, sawPoint := false, false
	fracDigits := 0
	trailingZeros := 0 // zeros seen since the last non-zero significant digit
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			sawDigit = true
			if sawPoint {
				fracDigits++
			}
			if c == '0' {
				if n.digits > 0 {
					trailingZeros++
				}
				continue
			}
			// Zeros held back become significant once a non-zero digit
			// follows them.
			for ; trailingZeros > 0; trailingZeros-- {
				n.appendDigit(0)
			}
			n.appendDigit(uint64(c - '0'))
			continue
		case c == '.' && !sawPoint:
			sawPoint = true
			continue
		}
		break
	}
	if !sawDigit {
		return number{}, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		start := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits := len(s) - i; digits == 0 || digits > maxExponentDigits {
			return number{}, false
		}
		e, err := strconv.Atoi(s[start:])
		if err != nil {
			return number{}, false
		}
		exp = e
		i = len(s)
	}
	if i != len(s) {
		return number{}, false
	}
	if n.digits == 0 {
		return number{}, true // zero, whatever its sign or exponent
	}
	// Dropped trailing zeros each multiply coef by 10.
	n.scale = fracDigits - exp - trailingZeros
	return n, true
}

// appendDigit shifts d into coef. Past 38 digits coef stops being kept (it
// no longer fits 128 bits) but digits keeps counting, which is what makes
// such a number not fit any DECIMAL.
func (n *number) appendDigit(d uint64) {
	n.digits++
	if n.digits > decimalPrecision {
		return
	}
	n.hi, n.lo = mulAdd128(n.hi, n.lo, 10, d)
}

// intDigits is how many digits the number has before the decimal point.
func (n number) intDigits() int {
	return max(0, n.digits-n.scale)
}

// fracScale is how many digits the number has after the decimal point.
func (n number) fracScale() int {
	return max(0, n.scale)
}

// fits reports whether the number is exactly representable as
// DECIMAL(38,scale).
func (n number) fits(scale int) bool {
	if n.digits == 0 {
		return true
	}
	return n.scale <= scale && n.digits+scale-n.scale <= decimalPrecision
}

// appendDecimal appends the 16-byte big-endian two's complement unscaled
// value of n at scale, as Parquet stores DECIMAL in FIXED_LEN_BYTE_ARRAY.
// The caller has checked n.fits(scale).
func (n number) appendDecimal(dst []byte, scale int) []byte {
	hi, lo := n.hi, n.lo
	if n.digits > 0 {
		for range scale - n.scale {
			hi, lo = mulAdd128(hi, lo, 10, 0)
		}
	}
	if n.neg && (hi|lo) != 0 {
		hi, lo = negate128(hi, lo)
	}
	var b [decimalBytes]byte
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return append(dst, b[:]...)
}

// formatDecimal turns a stored DECIMAL(38,scale) back into number text: plain
// notation, no trailing zeros after the point, no point if nothing follows
// it ("1.50" comes back "1.5", "1E+2" comes back "100"). The value is
// exactly the one written; only its spelling is normalised.
func formatDecimal(b []byte, scale int) (string, bool) {
	if len(b) != decimalBytes {
		return "", false
	}
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	neg := hi>>63 == 1
	if neg {
		hi, lo = negate128(hi, lo)
	}
	// At most 39 digits (2^127 has 39); a 128-bit value is converted 19
	// digits at a time, the most a uint64 remainder holds.
	var digits [40]byte
	pos := len(digits)
	for hi != 0 || lo != 0 {
		var r uint64
		hi, lo, r = divmod128(hi, lo, 1e19)
		for k := 0; k < 19 && (r != 0 || hi != 0 || lo != 0); k++ {
			pos--
			digits[pos] = byte('0' + r%10)
			r /= 10
		}
	}
	text := digits[pos:]
	if len(text) == 0 {
		return "0", true
	}
	// Split into integer and fraction parts, then drop fraction zeros.
	var intPart, frac []byte
	if len(text) > scale {
		intPart, frac = text[:len(text)-scale], text[len(text)-scale:]
	} else {
		intPart = []byte{'0'}
		frac = make([]byte, scale)
		for i := range frac {
			frac[i] = '0'
		}
		copy(frac[scale-len(text):], text)
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	out := make([]byte, 0, len(intPart)+len(frac)+2)
	if neg {
		out = append(out, '-')
	}
	out = append(out, intPart...)
	if len(frac) > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	return string(out), true
}

// mulAdd128 returns (hi,lo)×m + a; callers keep the result under 2^127.
func mulAdd128(hi, lo, m, a uint64) (uint64, uint64) {
	carry, lo2 := bits.Mul64(lo, m)
	_, hi2 := bits.Mul64(hi, m)
	hi2 += carry
	lo3, c := bits.Add64(lo2, a, 0)
	return hi2 + c, lo3
}

func negate128(hi, lo uint64) (uint64, uint64) {
	lo2, borrow := bits.Sub64(0, lo, 0)
	hi2, _ := bits.Sub64(0, hi, borrow)
	return hi2, lo2
}

// divmod128 divides (hi,lo) by d, returning the quotient and remainder.
func divmod128(hi, lo, d uint64) (qhi, qlo, r uint64) {
	qhi, r = hi/d, hi%d
	qlo, r = bits.Div64(r, lo, d)
	return qhi, qlo, r
}
