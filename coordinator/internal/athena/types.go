package athena

import (
	"fmt"
	"strings"
)

// primitives are the Hive types Athena's DDL takes without parameters.
var primitives = map[string]bool{
	"boolean": true, "tinyint": true, "smallint": true, "int": true, "integer": true, "bigint": true,
	"float": true, "double": true, "string": true, "binary": true, "date": true, "timestamp": true,
}

// CheckType reports whether t is a Hive type Athena's CREATE TABLE accepts:
// a primitive, decimal(p,s), char(n), varchar(n), array<T>, map<K,V> or
// struct<name:T,…>. Columns handed in by another package (a Parquet
// schema) are checked here, so a typo fails when the DDL is made rather
// than when someone runs it.
func CheckType(t string) error {
	p := &typeParser{s: t}
	if err := p.typ(); err != nil {
		return fmt.Errorf("type %q: %w", t, err)
	}
	if p.i != len(p.s) {
		return fmt.Errorf("type %q: unexpected %q at %d", t, p.s[p.i:], p.i)
	}
	return nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) word() string {
	j := p.i
	for j < len(p.s) && (p.s[j] >= 'a' && p.s[j] <= 'z' || p.s[j] >= 'A' && p.s[j] <= 'Z' || p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '_') {
		j++
	}
	w := p.s[p.i:j]
	p.i = j
	return w
}

func (p *typeParser) eat(c byte) error {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return nil
	}
	if p.i >= len(p.s) {
		return fmt.Errorf("want %q at the end", c)
	}
	return fmt.Errorf("want %q at %d, have %q", c, p.i, p.s[p.i])
}

func (p *typeParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *typeParser) number() error {
	if w := p.word(); w == "" || strings.Trim(w, "0123456789") != "" {
		return fmt.Errorf("want a number at %d", p.i-len(w))
	}
	return nil
}

func (p *typeParser) typ() error {
	start := p.i
	w := strings.ToLower(p.word())
	switch {
	case primitives[w]:
		return nil
	case w == "decimal":
		if err := p.eat('('); err != nil {
			return err
		}
		if err := p.number(); err != nil {
			return err
		}
		if err := p.eat(','); err != nil {
			return err
		}
		if err := p.number(); err != nil {
			return err
		}
		return p.eat(')')
	case w == "char" || w == "varchar":
		if err := p.eat('('); err != nil {
			return err
		}
		if err := p.number(); err != nil {
			return err
		}
		return p.eat(')')
	case w == "array":
		if err := p.eat('<'); err != nil {
			return err
		}
		if err := p.typ(); err != nil {
			return err
		}
		return p.eat('>')
	case w == "map":
		if err := p.eat('<'); err != nil {
			return err
		}
		if err := p.typ(); err != nil {
			return err
		}
		if err := p.eat(','); err != nil {
			return err
		}
		if err := p.typ(); err != nil {
			return err
		}
		return p.eat('>')
	case w == "struct":
		if err := p.eat('<'); err != nil {
			return err
		}
		for {
			if err := p.fieldName(); err != nil {
				return err
			}
			if err := p.eat(':'); err != nil {
				return err
			}
			if err := p.typ(); err != nil {
				return err
			}
			if !p.peek(',') {
				return p.eat('>')
			}
			p.i++
		}
	}
	return fmt.Errorf("unknown type %q at %d", p.s[start:p.i], start)
}

// fieldName is a bare name or one in backquotes, where a doubled
// backquote stands for one.
func (p *typeParser) fieldName() error {
	if !p.peek('`') {
		if p.word() == "" {
			return fmt.Errorf("want a field name at %d", p.i)
		}
		return nil
	}
	p.i++
	for p.i < len(p.s) {
		if p.s[p.i] == '`' {
			if p.i+1 < len(p.s) && p.s[p.i+1] == '`' {
				p.i += 2
				continue
			}
			p.i++
			return nil
		}
		p.i++
	}
	return fmt.Errorf("unterminated `name`")
}
