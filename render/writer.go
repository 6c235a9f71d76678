package render

// writer assembles output lines in a buffer, with or without colour.
//
// The append* forms take and return the buffer: a caller that keeps it in
// a local variable while it writes a row stores no pointer to the heap per
// piece (each store would pass a write barrier while the collector runs),
// and puts it back in w.b once.
type writer struct {
	b   []byte
	pal *palette // nil: no colour
}

const blanks = "                                "

// appendSpaces appends n blanks to b.
func appendSpaces(b []byte, n int) []byte {
	for n > len(blanks) {
		b = append(b, blanks...)
		n -= len(blanks)
	}
	if n > 0 {
		b = append(b, blanks[:n]...)
	}
	return b
}

func (w *writer) spaces(n int) { w.b = appendSpaces(w.b, n) }

func (w *writer) span(s span) { w.str(s.text, s.st) }

// str writes s in role st, as line does a line of that one span.
func (w *writer) str(s string, st sty) { w.b = w.appendStr(w.b, s, st) }

// appendStr appends s in role st to b.
func (w *writer) appendStr(b []byte, s string, st sty) []byte {
	if w.pal == nil {
		return append(b, s...)
	}
	cur := sPlain
	if st != cur && w.pal.open[st] != w.pal.open[cur] {
		b = append(b, w.pal.close[cur]...)
		b = append(b, w.pal.open[st]...)
		cur = st
	}
	b = append(b, s...)
	return append(b, w.pal.close[cur]...)
}

// line writes l, opening and closing a colour only where the role changes.
func (w *writer) line(l line) { w.b = w.appendLine(w.b, l) }

// appendLine appends l to b.
func (w *writer) appendLine(b []byte, l line) []byte {
	cur := sPlain
	for _, s := range l {
		if w.pal != nil && s.st != cur && w.pal.open[s.st] != w.pal.open[cur] {
			b = append(b, w.pal.close[cur]...)
			b = append(b, w.pal.open[s.st]...)
			cur = s.st
		}
		b = append(b, s.text...)
	}
	if w.pal != nil {
		b = append(b, w.pal.close[cur]...)
	}
	return b
}

// cell writes l left-aligned in a column of width cells.
func (w *writer) cell(l line, width int) { w.b = w.appendCell(w.b, l, width) }

// appendCell appends cell's output to b.
func (w *writer) appendCell(b []byte, l line, width int) []byte {
	lw := l.width()
	if lw > width {
		l = l.truncate(width)
		lw = l.width()
	}
	b = w.appendLine(b, l)
	return appendSpaces(b, width-lw)
}

// text writes s, w cells wide, left-aligned in a column of width cells,
// cutting it when it does not fit.
func (w *writer) text(s string, sw int, st sty, width int) { w.b = w.appendText(w.b, s, sw, st, width) }

// appendText appends text's output to b.
func (w *writer) appendText(b []byte, s string, sw int, st sty, width int) []byte {
	if sw > width {
		return w.appendCell(b, line{{s, st}}, width)
	}
	b = w.appendStr(b, s, st)
	return appendSpaces(b, width-sw)
}

// rtext writes s, sw cells wide, right-aligned in a column of width cells,
// cutting it when it does not fit.
func (w *writer) rtext(s string, sw int, st sty, width int) {
	w.b = w.appendRText(w.b, s, sw, st, width)
}

// appendRText appends rtext's output to b.
func (w *writer) appendRText(b []byte, s string, sw int, st sty, width int) []byte {
	if sw > width {
		return w.appendRCell(b, line{{s, st}}, width)
	}
	b = appendSpaces(b, width-sw)
	return w.appendStr(b, s, st)
}

// rcell writes l right-aligned in a column of width cells.
func (w *writer) rcell(l line, width int) { w.b = w.appendRCell(w.b, l, width) }

// appendRCell appends rcell's output to b.
func (w *writer) appendRCell(b []byte, l line, width int) []byte {
	lw := l.width()
	if lw > width {
		l = l.truncate(width)
		lw = l.width()
	}
	b = appendSpaces(b, width-lw)
	return w.appendLine(b, l)
}

func (w *writer) newline() { w.b = appendNewline(w.b) }

// appendNewline ends the line in b. No trailing blanks: padding of the
// last column is dropped.
func appendNewline(b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == ' ' {
		n--
	}
	return append(b[:n], '\n')
}
