// Package docs reads the project's Markdown documents as their tests
// need: the links of a document, the anchors its headings get, and the
// curl commands of its shell examples. It keeps no state; every function
// is pure.
//
// Anchors follow GitHub's rendering (its slugger): the heading's text as
// shown (link targets dropped), lower-cased, every character that is not
// a letter, a mark, a number, a connector such as the underscore, a
// space or a hyphen removed, each space turned into a hyphen, and a
// repeated anchor numbered -1, -2, ... in the order of the document.
package docs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Link is a link target as a document writes it.
type Link struct {
	Line   int    // 1-based
	Target string // e.g. "docs/config.md", "#limits", "../bench/README.md#audit", "https://..."
}

// Relative reports whether the link points inside the repository: it has
// no scheme (https:, mailto:) and is not protocol-relative.
func (l Link) Relative() bool {
	return !scheme.MatchString(l.Target) && !strings.HasPrefix(l.Target, "//")
}

var (
	scheme     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	heading    = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
)

// lines calls fn with each line outside fenced code blocks (``` or ~~~),
// numbered from 1.
func lines(md string, fn func(n int, line string)) {
	fence := ""
	for i, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = t[:3]
			continue
		}
		fn(i+1, line)
	}
}

// Links returns every link of md outside code blocks and code spans:
// inline links, images, and reference definitions.
func Links(md string) []Link {
	var out []Link
	lines(md, func(n int, line string) {
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, Link{Line: n, Target: m[1]})
			return
		}
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			out = append(out, Link{Line: n, Target: m[1]})
		}
	})
	return out
}

// Anchors returns the anchor of every heading of md.
func Anchors(md string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	lines(md, func(_ int, line string) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		slug := Slug(m[2])
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	})
	return out
}

var linkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// Slug is the anchor GitHub gives a heading of this text.
func Slug(text string) string {
	text = linkText.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Curl is one curl command of a shell example.
type Curl struct {
	Line   int    // where the command starts, 1-based
	Method string // -X's, else POST with a body, HEAD with -I, else GET
	URL    string // as written, shell variables and all
}

// curlValueOptions are curl's options whose value is the next word.
var curlValueOptions = map[string]bool{
	"-H": true, "--header": true, "-d": true, "--data": true, "--data-binary": true, "--data-raw": true,
	"--data-urlencode": true, "--json": true, "-F": true, "--form": true, "-X": true, "--request": true,
	"-o": true, "--output": true, "-D": true, "--dump-header": true, "-w": true, "--write-out": true,
	"-u": true, "--user": true, "-A": true, "--user-agent": true, "-e": true, "--referer": true,
	"-b": true, "--cookie": true, "-c": true, "--cookie-jar": true, "-m": true, "--max-time": true,
	"--connect-timeout": true, "-T": true, "--upload-file": true,
}

// bodyOptions make curl send a POST when -X does not say otherwise.
var bodyOptions = map[string]bool{
	"-d": true, "--data": true, "--data-binary": true, "--data-raw": true, "--data-urlencode": true,
	"--json": true, "-F": true, "--form": true,
}

// Curls returns the curl commands of md's shell code blocks (```sh,
// ```bash, ```shell), a command continued over lines (a trailing
// backslash, or a quote open at the line's end) read as one. A curl with
// no URL, or a quote still open at the block's end, is an error.
func Curls(md string) ([]Curl, error) {
	var out []Curl
	var errs []string
	inShell, fenced := false, false
	pending, start := "", 0
	for i, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			if pending != "" {
				errs = append(errs, fmt.Sprintf("line %d: a command left unfinished at the block's end: %s", start, strings.TrimSpace(pending)))
				pending = ""
			}
			if !fenced {
				lang := strings.TrimSpace(strings.TrimPrefix(t, "```"))
				inShell = lang == "sh" || lang == "bash" || lang == "shell"
			} else {
				inShell = false
			}
			fenced = !fenced
			continue
		}
		if !inShell {
			continue
		}
		if pending == "" {
			start = i + 1
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cmd := pending + line
		pending = ""
		cs, err := curlsOf(cmd)
		if errors.Is(err, errOpenQuote) {
			pending = cmd + "\n"
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("line %d: %v", start, err))
		}
		for _, c := range cs {
			c.Line = start
			out = append(out, c)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("docs: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// curlsOf reads the curl commands of one shell command line.
func curlsOf(cmd string) ([]Curl, error) {
	words, err := shellWords(cmd)
	if err != nil {
		return nil, err
	}
	var out []Curl
	for i := 0; i < len(words); i++ {
		if words[i] != "curl" && !strings.HasSuffix(words[i], "$(curl") {
			continue
		}
		c := Curl{}
		explicit := false
		j := i + 1
		for ; j < len(words) && !isSeparator(words[j]); j++ {
			w := words[j]
			switch {
			case w == "-X" || w == "--request":
				if j+1 < len(words) {
					c.Method, explicit = words[j+1], true
				}
			case (w == "-I" || w == "--head") && !explicit:
				c.Method = "HEAD"
			case bodyOptions[w] && !explicit && c.Method == "":
				c.Method = "POST"
			case c.URL == "" && strings.Contains(w, "://"):
				c.URL = w
			}
			if curlValueOptions[w] {
				j++
			}
		}
		if c.URL == "" {
			return out, fmt.Errorf("a curl without a URL: %s", strings.TrimSpace(cmd))
		}
		if c.Method == "" {
			c.Method = "GET"
		}
		out = append(out, c)
		i = j
	}
	return out, nil
}

// errOpenQuote: a command's quote is not closed on its line.
var errOpenQuote = errors.New("a quote left open")

func isSeparator(w string) bool {
	switch w {
	case "|", "||", "&&", ";", ")", "&":
		return true
	}
	return false
}

// shellWords splits a command line into words as a POSIX shell would
// for these purposes: single and double quotes group (and are dropped),
// a backslash escapes the next character outside single quotes, an
// unquoted # starts a comment, and the separators |, ||, &&, ;, & and )
// are words of their own.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\'':
			end := indexRune(rs, i+1, '\'')
			if end < 0 {
				return nil, errOpenQuote
			}
			cur.WriteString(string(rs[i+1 : end]))
			inWord, i = true, end
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				cur.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, errOpenQuote
			}
			inWord, i = true, j
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case r == '#' && !inWord:
			flush()
			return words, nil
		case unicode.IsSpace(r):
			flush()
		case r == '|' || r == '&' || r == ';' || r == ')':
			flush()
			if (r == '|' || r == '&') && i+1 < len(rs) && rs[i+1] == r {
				words = append(words, string([]rune{r, r}))
				i++
			} else {
				words = append(words, string(r))
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	flush()
	return words, nil
}

func indexRune(rs []rune, from int, r rune) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}
