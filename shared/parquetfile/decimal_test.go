package parquetfile

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in            string
		digits, scale int
		neg           bool
	}{
		{"0", 0, 0, false},
		{"-0.000", 0, 0, false},
		{"1.50", 2, 1, false},
		{"100", 1, -2, false},
		{"-0.0015", 2, 4, true},
		{"1E-130", 1, 130, false},
		{"1.0E-130", 1, 130, false},
		{"-9.9999999999999999999999999999999999999E+125", 38, -88, true},
		{"12345678901234567890123456789012345678", 38, 0, false},
		{"+5", 1, 0, false},
		{".5", 1, 1, false},
		{"5.", 1, 0, false},
		{"1005", 4, 0, false},
		{"007.10", 2, 1, false},
	} {
		got, ok := parseNumber(tc.in)
		require.True(t, ok, tc.in)
		require.Equal(t, tc.digits, got.digits, "%s digits", tc.in)
		if tc.digits > 0 {
			require.Equal(t, tc.scale, got.scale, "%s scale", tc.in)
			require.Equal(t, tc.neg, got.neg, "%s sign", tc.in)
		}
	}
	for _, bad := range []string{"", "-", ".", "e5", "1e", "1e+", "1.2.3", "--1", "1x", "abc", "1e1234567", " 1"} {
		_, ok := parseNumber(bad)
		require.False(t, ok, "%q", bad)
	}
}

func TestDecimalFits(t *testing.T) {
	nines := strings.Repeat("9", 38)
	for _, tc := range []struct {
		in    string
		scale int
		fits  bool
	}{
		{nines, 0, true},
		{"-" + nines, 0, true},
		{"1" + strings.Repeat("0", 38), 0, false}, // 10^38
		{nines, 1, false},
		{"0." + nines, 38, true},
		{"1.5", 0, false},
		{"1.5", 1, true},
		{"1E+37", 0, true},
		{"1E+37", 1, false},
		{"1E-130", 38, false},
		{"0", 38, true},
	} {
		num, ok := parseNumber(tc.in)
		require.True(t, ok)
		require.Equal(t, tc.fits, num.fits(tc.scale), "%s in DECIMAL(38,%d)", tc.in, tc.scale)
	}
}

// TestDecimalRoundTripIsExact checks the 16-byte encoding against big.Rat
// for random numbers of every size the type holds.
func TestDecimalRoundTripIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20_000 {
		scale := r.IntN(39)
		digits := 1 + r.IntN(38)
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		for range digits {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		text := b.String()
		// Place the point so the number fits DECIMAL(38,scale): at most
		// scale digits after it and 38-scale before.
		frac := min(scale, digits)
		if digits-frac > decimalPrecision-scale {
			frac = digits - (decimalPrecision - scale)
		}
		if frac > 0 {
			text = text[:len(text)-frac] + "." + text[len(text)-frac:]
		}
		num, ok := parseNumber(text)
		require.True(t, ok, text)
		require.True(t, num.fits(scale), "%s in DECIMAL(38,%d)", text, scale)
		back, ok := formatDecimal(num.appendDecimal(nil, scale), scale)
		require.True(t, ok)
		want, _ := new(big.Rat).SetString(text)
		got, ok := new(big.Rat).SetString(back)
		require.True(t, ok, back)
		require.Zero(t, want.Cmp(got), "%s came back %s", text, back)
		require.Equal(t, canonical(want), back, "spelling of %s", text)
	}
}

// canonical is the plain spelling formatDecimal promises: no exponent, no
// trailing fraction zeros, no leading zeros.
func canonical(r *big.Rat) string {
	s := r.FloatString(decimalPrecision + 2)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

func TestFormatDecimalRefusesOtherWidths(t *testing.T) {
	_, ok := formatDecimal(make([]byte, 15), 0)
	require.False(t, ok)
	text, ok := formatDecimal(make([]byte, 16), 5)
	require.True(t, ok)
	require.Equal(t, "0", text)
}
