package trace

// NoFastParseForTest keeps the observers on the helper path of parsing, to
// compare it with the fast one.
func NoFastParseForTest(o *Options) { o.noFastParse = true }
