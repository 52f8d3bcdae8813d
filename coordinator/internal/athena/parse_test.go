package athena_test

import (
	"fmt"
	"strings"
	"unicode"
)

// No Go module parses Hive DDL: the SQL parsers on the module proxy
// (vitess, TiDB's, xwb1989/sqlparser) speak MySQL and reject EXTERNAL,
// PARTITIONED BY, ROW FORMAT SERDE and STORED AS. So the tests check
// the output with this small parser of exactly the Hive DDL that Athena
// documents for CREATE EXTERNAL TABLE and ALTER TABLE ADD PARTITION,
// written apart from the renderer so a mistake in one is not repeated in
// the other. It checks the statement shape, identifier quoting against
// Hive's reserved words, type syntax, string literals, and that every
// statement ends with ';' and a newline.

type parsedColumn struct{ name, typ string }

type parsedCreate struct {
	table       string
	ifNotExists bool
	columns     []parsedColumn
	partitions  []parsedColumn
	stored      string // "PARQUET" or the SerDe class
	location    string
	properties  map[string]string
}

type parsedAlter struct {
	table    string
	values   [][2]string // partition column, value
	location string
}

// hiveReserved are Hive's reserved keywords (Hive 3, which Athena's DDL
// follows): a bare identifier may not be one of them.
var hiveReserved = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all alter and array as authorization between bigint binary boolean both by
		cache case cast char column commit conf constraint create cross cube current current_date current_timestamp
		cursor database date dayofweek decimal delete describe distinct double drop else end exchange exists extended
		external extract false fetch float floor following for foreign from full function grant group grouping having
		if import in inner insert int integer intersect interval into is join lateral left less like local macro map
		more none not null numeric of on only or order out outer over partialscan partition percent preceding precision
		preserve primary procedure range reads reduce references regexp revoke right rlike rollback rollup row rows
		select set smallint start struct sync table tablesample then time timestamp to transform trigger true truncate
		unbounded union uniquejoin update user using utc_tmestamp values varchar views when where window with`) {
		m[w] = true
	}
	return m
}()

type token struct {
	kind string // word, ident (backquoted), string, number, punct
	text string
	pos  int
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n':
			i++
		case c == '`':
			var b strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated identifier at %d", i)
				}
				if s[j] == '`' {
					if j+1 < len(s) && s[j+1] == '`' {
						b.WriteByte('`')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("empty identifier at %d", i)
			}
			out = append(out, token{"ident", b.String(), i})
			i = j + 1
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			lit := s[i+1 : i+1+j]
			if strings.ContainsAny(lit, "\\\n") {
				return nil, fmt.Errorf("string at %d holds a backslash or newline", i)
			}
			out = append(out, token{"string", lit, i})
			i += j + 2
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, token{"word", s[i:j], i})
			i = j
		case unicode.IsDigit(rune(c)):
			j := i
			for j < len(s) && unicode.IsDigit(rune(s[j])) {
				j++
			}
			out = append(out, token{"number", s[i:j], i})
			i = j
		case strings.IndexByte("()<>,:=.;", c) >= 0:
			if c == ';' && (i+1 >= len(s) || s[i+1] != '\n') {
				return nil, fmt.Errorf("';' at %d is not followed by a newline", i)
			}
			out = append(out, token{"punct", string(c), i})
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return out, nil
}

type ddlParser struct {
	toks []token
	i    int
}

func (p *ddlParser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: "eof"}
}

func (p *ddlParser) fail(want string) error {
	t := p.peek()
	return fmt.Errorf("want %s at %d, have %s %q", want, t.pos, t.kind, t.text)
}

// keyword consumes the words given, case-insensitively.
func (p *ddlParser) keyword(words ...string) error {
	for _, w := range words {
		if t := p.peek(); t.kind != "word" || !strings.EqualFold(t.text, w) {
			return p.fail(w)
		}
		p.i++
	}
	return nil
}

func (p *ddlParser) optional(words ...string) bool {
	save := p.i
	if p.keyword(words...) == nil {
		return true
	}
	p.i = save
	return false
}

func (p *ddlParser) punct(c string) error {
	if t := p.peek(); t.kind != "punct" || t.text != c {
		return p.fail("'" + c + "'")
	}
	p.i++
	return nil
}

func (p *ddlParser) isPunct(c string) bool { t := p.peek(); return t.kind == "punct" && t.text == c }

func (p *ddlParser) ident() (string, error) {
	t := p.peek()
	switch {
	case t.kind == "ident":
	case t.kind == "word" && !hiveReserved[strings.ToLower(t.text)]:
	case t.kind == "word":
		return "", fmt.Errorf("reserved word %q used as a bare identifier at %d", t.text, t.pos)
	default:
		return "", p.fail("an identifier")
	}
	p.i++
	return t.text, nil
}

func (p *ddlParser) str() (string, error) {
	t := p.peek()
	if t.kind != "string" {
		return "", p.fail("a string")
	}
	p.i++
	return t.text, nil
}

func (p *ddlParser) number() (string, error) {
	t := p.peek()
	if t.kind != "number" {
		return "", p.fail("a number")
	}
	p.i++
	return t.text, nil
}

// typ parses a Hive type and returns it spelled canonically.
func (p *ddlParser) typ() (string, error) {
	t := p.peek()
	if t.kind != "word" {
		return "", p.fail("a type")
	}
	p.i++
	w := strings.ToLower(t.text)
	switch w {
	case "boolean", "tinyint", "smallint", "int", "integer", "bigint", "float", "double", "string", "binary", "date", "timestamp":
		return w, nil
	case "decimal", "char", "varchar":
		if err := p.punct("("); err != nil {
			return "", err
		}
		n, err := p.number()
		if err != nil {
			return "", err
		}
		args := n
		if w == "decimal" {
			if err := p.punct(","); err != nil {
				return "", err
			}
			s, err := p.number()
			if err != nil {
				return "", err
			}
			args += "," + s
		}
		return w + "(" + args + ")", p.punct(")")
	case "array", "map":
		if err := p.punct("<"); err != nil {
			return "", err
		}
		inner, err := p.typ()
		if err != nil {
			return "", err
		}
		if w == "map" {
			if err := p.punct(","); err != nil {
				return "", err
			}
			v, err := p.typ()
			if err != nil {
				return "", err
			}
			inner += "," + v
		}
		return w + "<" + inner + ">", p.punct(">")
	case "struct":
		if err := p.punct("<"); err != nil {
			return "", err
		}
		var fields []string
		for {
			n, err := p.ident()
			if err != nil {
				return "", err
			}
			if err := p.punct(":"); err != nil {
				return "", err
			}
			ft, err := p.typ()
			if err != nil {
				return "", err
			}
			fields = append(fields, n+":"+ft)
			if !p.isPunct(",") {
				break
			}
			p.i++
		}
		return "struct<" + strings.Join(fields, ",") + ">", p.punct(">")
	}
	return "", fmt.Errorf("unknown type %q at %d", t.text, t.pos)
}

func (p *ddlParser) tableName() (string, error) {
	n, err := p.ident()
	if err != nil {
		return "", err
	}
	if p.isPunct(".") {
		p.i++
		t, err := p.ident()
		if err != nil {
			return "", err
		}
		n += "." + t
	}
	return n, nil
}

func (p *ddlParser) columns() ([]parsedColumn, error) {
	if err := p.punct("("); err != nil {
		return nil, err
	}
	var cols []parsedColumn
	for {
		n, err := p.ident()
		if err != nil {
			return nil, err
		}
		t, err := p.typ()
		if err != nil {
			return nil, err
		}
		cols = append(cols, parsedColumn{n, t})
		if !p.isPunct(",") {
			return cols, p.punct(")")
		}
		p.i++
	}
}

func (p *ddlParser) create() (*parsedCreate, error) {
	c := &parsedCreate{properties: map[string]string{}}
	if err := p.keyword("CREATE", "EXTERNAL", "TABLE"); err != nil {
		return nil, err
	}
	c.ifNotExists = p.optional("IF", "NOT", "EXISTS")
	var err error
	if c.table, err = p.tableName(); err != nil {
		return nil, err
	}
	if c.columns, err = p.columns(); err != nil {
		return nil, err
	}
	if p.optional("PARTITIONED", "BY") {
		if c.partitions, err = p.columns(); err != nil {
			return nil, err
		}
	}
	switch {
	case p.optional("ROW", "FORMAT", "SERDE"):
		if c.stored, err = p.str(); err != nil {
			return nil, err
		}
	case p.optional("STORED", "AS", "PARQUET"):
		c.stored = "PARQUET"
	default:
		return nil, p.fail("ROW FORMAT SERDE or STORED AS PARQUET")
	}
	if err := p.keyword("LOCATION"); err != nil {
		return nil, err
	}
	if c.location, err = p.str(); err != nil {
		return nil, err
	}
	if p.optional("TBLPROPERTIES") {
		if err := p.punct("("); err != nil {
			return nil, err
		}
		for {
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			if err := p.punct("="); err != nil {
				return nil, err
			}
			v, err := p.str()
			if err != nil {
				return nil, err
			}
			c.properties[k] = v
			if !p.isPunct(",") {
				break
			}
			p.i++
		}
		if err := p.punct(")"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (p *ddlParser) alter() (*parsedAlter, error) {
	a := &parsedAlter{}
	if err := p.keyword("ALTER", "TABLE"); err != nil {
		return nil, err
	}
	var err error
	if a.table, err = p.tableName(); err != nil {
		return nil, err
	}
	if err := p.keyword("ADD", "IF", "NOT", "EXISTS", "PARTITION"); err != nil {
		return nil, err
	}
	if err := p.punct("("); err != nil {
		return nil, err
	}
	for {
		k, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.punct("="); err != nil {
			return nil, err
		}
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		a.values = append(a.values, [2]string{k, v})
		if !p.isPunct(",") {
			break
		}
		p.i++
	}
	if err := p.punct(")"); err != nil {
		return nil, err
	}
	if err := p.keyword("LOCATION"); err != nil {
		return nil, err
	}
	a.location, err = p.str()
	return a, err
}

// parseDDL parses what the ddl command prints: one CREATE EXTERNAL TABLE,
// then any number of ALTER TABLE ADD PARTITION, each ending ";\n".
func parseDDL(s string) (*parsedCreate, []*parsedAlter, error) {
	if !strings.HasSuffix(s, ";\n") {
		return nil, nil, fmt.Errorf("output does not end with ';' and a newline")
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, nil, err
	}
	p := &ddlParser{toks: toks}
	c, err := p.create()
	if err != nil {
		return nil, nil, fmt.Errorf("CREATE: %w", err)
	}
	if err := p.punct(";"); err != nil {
		return nil, nil, err
	}
	var alters []*parsedAlter
	for p.peek().kind != "eof" {
		a, err := p.alter()
		if err != nil {
			return nil, nil, fmt.Errorf("ALTER %d: %w", len(alters)+1, err)
		}
		if err := p.punct(";"); err != nil {
			return nil, nil, err
		}
		alters = append(alters, a)
	}
	return c, alters, nil
}
