// Package ddbjson owns DynamoDB JSON: the wire form of attribute values that
// native exports, ImportTable and Athena read.
//
// Encoding writes bytes straight from the SDK's attribute-value types,
// without reflection: it is the hot path of every worker (see
// BenchmarkAppendItem). Output is deterministic — map keys are sorted — so
// the same item always encodes to the same line, which keeps part checksums
// reproducible across retries.
package ddbjson

import (
	"encoding/base64"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AppendItemLine appends `{"Item":{...}}\n` for item to dst.
func AppendItemLine(dst []byte, item map[string]types.AttributeValue) ([]byte, error) {
	dst = append(dst, `{"Item":`...)
	dst, err := AppendMap(dst, item)
	if err != nil {
		return dst, err
	}
	return append(dst, '}', '\n'), nil
}

// AppendMap appends a DynamoDB JSON object (attribute name → typed value).
func AppendMap(dst []byte, m map[string]types.AttributeValue) ([]byte, error) {
	return appendObject(dst, m, AppendValue)
}

// appendObject writes m as a JSON object with sorted keys, each value
// written by value: the shape both output formats share.
func appendObject(dst []byte, m map[string]types.AttributeValue, value func([]byte, types.AttributeValue) ([]byte, error)) ([]byte, error) {
	var keysBuf [32]string
	keys := keysBuf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = value(dst, m[k]); err != nil {
			return dst, fmt.Errorf("attribute %q: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

// AppendValue appends one typed value, e.g. {"N":"1.50"}.
func AppendValue(dst []byte, av types.AttributeValue) ([]byte, error) {
	var err error
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		dst = append(dst, `{"S":`...)
		dst = appendString(dst, v.Value)
	case *types.AttributeValueMemberN:
		// Numbers stay strings: DynamoDB keeps 38 digits of precision that
		// a float64 would lose.
		dst = append(dst, `{"N":`...)
		dst = appendString(dst, v.Value)
	case *types.AttributeValueMemberB:
		dst = append(dst, `{"B":`...)
		dst = appendBase64(dst, v.Value)
	case *types.AttributeValueMemberBOOL:
		if v.Value {
			dst = append(dst, `{"BOOL":true`...)
		} else {
			dst = append(dst, `{"BOOL":false`...)
		}
	case *types.AttributeValueMemberNULL:
		dst = append(dst, `{"NULL":true`...)
	case *types.AttributeValueMemberSS:
		dst = append(dst, `{"SS":[`...)
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberNS:
		dst = append(dst, `{"NS":[`...)
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, s)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberBS:
		dst = append(dst, `{"BS":[`...)
		for i, b := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBase64(dst, b)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberL:
		dst = append(dst, `{"L":[`...)
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = AppendValue(dst, e); err != nil {
				return dst, fmt.Errorf("list element %d: %w", i, err)
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberM:
		dst = append(dst, `{"M":`...)
		if dst, err = AppendMap(dst, v.Value); err != nil {
			return dst, err
		}
	default:
		return dst, fmt.Errorf("unsupported attribute value type %T", av)
	}
	return append(dst, '}'), nil
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. It escapes only what JSON
// requires (quote, backslash, control characters) and replaces invalid
// UTF-8, matching encoding/json minus its HTML escaping.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
