package journey

// An Annotation adds to a finished journey what the correlator, which works
// on numbers and time only, leaves out: names, inferred verdicts, NAT
// attribution, tail-call chains. Each annotation has one job and its own
// file (annotate_*.go here; the tail-call modes' in trace/tailcall).
type Annotation interface {
	Annotate(j *Journey)
}

// AnnotationFunc makes a function an Annotation.
type AnnotationFunc func(*Journey)

// Annotate calls f(j).
func (f AnnotationFunc) Annotate(j *Journey) { f(j) }

// Annotator is the annotate stage: between the correlator and the emit
// function, it runs the built-in annotations, then the caller's. Replays,
// checks and benchmarks get it through New just as the tracer does.
type Annotator struct {
	steps []Annotation
}

// NewAnnotator returns the stage with the built-in annotations, naming with
// res (nil names nothing), followed by extra.
func NewAnnotator(res Resolver, extra ...Annotation) *Annotator {
	if res == nil {
		res = &Static{}
	}
	steps := []Annotation{
		names{res},      // devices, programs, reasons, kernel functions
		dropFate{},      // the journey's drop reason and fate
		ciliumDrops{},   // Cilium's own drop reasons, from its tail calls
		verdictByDrop{}, // TC_ACT_SHOT inferred from a tc drop reason
		verdictByNext{}, // otherwise OK or REDIRECT, from the next hop
		natChanges{},    // the tuple changes, as a list
		natByProgram{},  // ... and the tc hop and program that made them
	}
	return &Annotator{steps: append(steps, extra...)}
}

// Annotate runs every annotation on j, in order.
func (a *Annotator) Annotate(j *Journey) {
	for _, s := range a.steps {
		s.Annotate(j)
	}
}
