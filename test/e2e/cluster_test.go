//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster is the one-node cluster the tests share, up for the whole run.
type cluster struct {
	dir        string // K8S_DIR: configuration, state and logs
	kubeconfig string // admin (system:masters)
	pluginDir  string // holds kubectl-pktlife, put first on PATH
	image      string // the node image's reference, as loaded
	webIP      string
	svcIP      string
}

var c cluster

// Environment make test-e2e sets.
const (
	envImageTar = "PKTLIFE_E2E_IMAGE_TAR" // the OCI layout tarball of make image
	envImage    = "PKTLIFE_E2E_IMAGE"     // its reference
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: needs root (it runs a cluster on this machine)")
		return 1
	}
	start := time.Now()
	before, err := hostState()
	if err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "pktlife-e2e-")
	if err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	c = cluster{dir: dir, kubeconfig: filepath.Join(dir, "etc", "admin.kubeconfig"), image: os.Getenv(envImage)}
	code := 1
	if err := c.up(); err != nil {
		fmt.Println("e2e: bring the cluster up:", err)
		logTail(dir)
	} else {
		fmt.Printf("e2e: cluster up in %s\n", time.Since(start).Round(time.Second))
		code = m.Run()
	}
	if err := c.down(); err != nil {
		fmt.Println("e2e: tear down:", err)
		code = 1
	}
	after, err := hostState()
	if err != nil || after != before {
		fmt.Printf("e2e: the host is not as it was before the cluster:\n%s\n", diffLines(before, after))
		code = 1
	}
	os.RemoveAll(dir)
	fmt.Printf("e2e: done in %s\n", time.Since(start).Round(time.Second))
	return code
}

// up builds what is not cached, brings the cluster up and creates the
// workload: pods web (busybox httpd on 8080) and client, Service web.
func (cl *cluster) up() error {
	tar := os.Getenv(envImageTar)
	if tar == "" || cl.image == "" {
		return fmt.Errorf("set %s and %s (make test-e2e does)", envImageTar, envImage)
	}
	bin, err := k8sBin()
	if err != nil {
		return err
	}
	if out, err := sh(nil, "k8s/build/build.sh"); err != nil {
		return fmt.Errorf("build kubernetes: %w\n%s", err, out)
	}
	images := filepath.Join(cl.dir, "images")
	cl.pluginDir = filepath.Join(cl.dir, "plugin")
	for _, d := range []string{images, cl.pluginDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"k8s/mkimage.sh", "local/pause:e2e", filepath.Join(bin, "pause"), filepath.Join(images, "pause.tar")},
		{"k8s/mkimage.sh", "local/busybox:e2e", "/bin/busybox", filepath.Join(images, "busybox.tar")},
		{"cp", tar, filepath.Join(images, "pktlife.tar")},
		{"go", "build", "-o", filepath.Join(cl.pluginDir, "kubectl-pktlife"), "../../cmd/kubectl-pktlife"},
		{"k8s/pki.sh"},
		{"k8s/up.sh"},
	}
	env := []string{"K8S_DIR=" + cl.dir, "K8S_BIN=" + bin}
	for _, s := range steps {
		if out, err := sh(env, s...); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(s, " "), err, out)
		}
	}
	if _, err := cl.kubectl(nil, "apply", "-f", "testdata/workload.yaml"); err != nil {
		return err
	}
	if _, err := cl.kubectl(nil, "wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=90s"); err != nil {
		return err
	}
	if cl.webIP, err = cl.kubectl(nil, "get", "pod", "web", "-o", "jsonpath={.status.podIP}"); err != nil {
		return err
	}
	cl.svcIP, err = cl.kubectl(nil, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
	return err
}

func (cl *cluster) down() error {
	bin, err := k8sBin()
	if err != nil {
		return err
	}
	out, err := sh([]string{"K8S_DIR=" + cl.dir, "K8S_BIN=" + bin}, "k8s/down.sh")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// k8sBin is where build.sh puts the binaries.
func k8sBin() (string, error) {
	cache := os.Getenv("K8S_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "pktlife", "k8s")
	}
	return filepath.Join(cache, "v1.34.4", "bin"), nil
}

// kubectlPath is the kubectl built with the cluster.
func kubectlPath() string {
	bin, _ := k8sBin()
	return filepath.Join(bin, "kubectl")
}

// kubectl runs kubectl as admin, or with the kubeconfig in env, and
// returns its trimmed stdout; the error carries stderr.
func (cl *cluster) kubectl(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := k8sBin()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kubectl"), args...)
	cmd.Env = append(cl.env(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// env is the environment kubectl and the plugin run in: the plugin first
// on PATH, admin's kubeconfig.
func (cl *cluster) env() []string {
	bin, _ := k8sBin()
	return append(os.Environ(), "PATH="+cl.pluginDir+":"+bin+":"+os.Getenv("PATH"), "KUBECONFIG="+cl.kubeconfig)
}

// sh runs a command from the package directory with extra environment and
// returns its combined output.
func sh(env []string, args ...string) (string, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hostState is what the cluster may change on the host and must put
// back: KUBE-* iptables chains, the bridge and pod namespaces, the bpffs
// and debugfs mounts and their sharing, and the sysctls the kubelet, the
// CNI plugin and kube-proxy set.
func hostState() (string, error) {
	var b strings.Builder
	for _, ipt := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(ipt).Output()
		if err != nil {
			return "", fmt.Errorf("%s: %w", ipt, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "KUBE-") {
				fmt.Fprintf(&b, "%s: %s\n", ipt, l)
			}
		}
	}
	if _, err := os.Stat("/sys/class/net/k8sbr0"); err == nil {
		b.WriteString("link k8sbr0\n")
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "cni-") {
				fmt.Fprintf(&b, "netns %s\n", e.Name())
			}
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == "/sys/fs/bpf" || f[4] == "/sys/kernel/debug") {
			shared := strings.Contains(l, " shared:")
			fmt.Fprintf(&b, "mount %s shared=%v\n", f[4], shared)
		}
	}
	for _, s := range []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/ip_forward",
		"net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables"} {
		v, _ := os.ReadFile("/proc/sys/" + s)
		fmt.Fprintf(&b, "sysctl %s=%s\n", s, strings.TrimSpace(string(v)))
	}
	return b.String(), nil
}

func diffLines(a, b string) string {
	in := func(s, l string) bool { return strings.Contains("\n"+s, "\n"+l+"\n") }
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if l != "" && !in(b, l) {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if l != "" && !in(a, l) {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}

// logTail prints the end of the components' logs, for a failed start.
func logTail(dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		fmt.Printf("--- %s\n%s\n", l, b)
	}
}
