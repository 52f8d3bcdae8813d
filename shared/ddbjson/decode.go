package ddbjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeItemLine parses one `{"Item":{...}}` line back into attribute values.
// verify and the tests use it; workers never decode.
func DecodeItemLine(line []byte) (map[string]types.AttributeValue, error) {
	var wrapper struct {
		Item json.RawMessage `json:"Item"`
	}
	if err := json.Unmarshal(line, &wrapper); err != nil {
		return nil, err
	}
	if wrapper.Item == nil {
		return nil, fmt.Errorf("line has no \"Item\" object")
	}
	return DecodeMap(wrapper.Item)
}

// DecodeMap parses a DynamoDB JSON object such as {"pk":{"S":"a"}}.
func DecodeMap(raw []byte) (map[string]types.AttributeValue, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if fields == nil && !bytes.Equal(bytes.TrimSpace(raw), []byte("{}")) {
		return nil, fmt.Errorf("expected a JSON object, got %s", truncate(raw))
	}
	out := make(map[string]types.AttributeValue, len(fields))
	for k, v := range fields {
		av, err := DecodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

// DecodeValue parses one typed value such as {"N":"1.5"}.
func DecodeValue(raw []byte) (types.AttributeValue, error) {
	var typed map[string]json.RawMessage
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, err
	}
	if len(typed) != 1 {
		return nil, fmt.Errorf("a typed value needs exactly one type key, got %s", truncate(raw))
	}
	for t, v := range typed {
		switch t {
		case "S":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberS{Value: s}, err
		case "N":
			var s string
			err := json.Unmarshal(v, &s)
			return &types.AttributeValueMemberN{Value: s}, err
		case "B":
			b, err := decodeBase64(v)
			return &types.AttributeValueMemberB{Value: b}, err
		case "BOOL":
			var b bool
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberBOOL{Value: b}, err
		case "NULL":
			var b bool
			err := json.Unmarshal(v, &b)
			return &types.AttributeValueMemberNULL{Value: b}, err
		case "SS", "NS":
			var ss []string
			if err := json.Unmarshal(v, &ss); err != nil {
				return nil, err
			}
			if t == "SS" {
				return &types.AttributeValueMemberSS{Value: ss}, nil
			}
			return &types.AttributeValueMemberNS{Value: ss}, nil
		case "BS":
			var ss []json.RawMessage
			if err := json.Unmarshal(v, &ss); err != nil {
				return nil, err
			}
			bs := make([][]byte, len(ss))
			for i, s := range ss {
				b, err := decodeBase64(s)
				if err != nil {
					return nil, err
				}
				bs[i] = b
			}
			return &types.AttributeValueMemberBS{Value: bs}, nil
		case "L":
			var elems []json.RawMessage
			if err := json.Unmarshal(v, &elems); err != nil {
				return nil, err
			}
			l := make([]types.AttributeValue, len(elems))
			for i, e := range elems {
				av, err := DecodeValue(e)
				if err != nil {
					return nil, fmt.Errorf("list element %d: %w", i, err)
				}
				l[i] = av
			}
			return &types.AttributeValueMemberL{Value: l}, nil
		case "M":
			m, err := DecodeMap(v)
			return &types.AttributeValueMemberM{Value: m}, err
		default:
			return nil, fmt.Errorf("unknown DynamoDB type %q", t)
		}
	}
	panic("unreachable")
}

func decodeBase64(raw json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(s)
}

func truncate(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
