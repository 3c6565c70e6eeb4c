package serve

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tether-edge/tether/broker/config"
	"github.com/tether-edge/tether/broker/loadgen"
	"github.com/tether-edge/tether/broker/mqttd"
)

// TestDashboardFirstPaint is a measured run, not part of `make test`:
// TETHER_DASHBOARD_NODES=1000 go test ./broker/serve -run
// TestDashboardFirstPaint -v. It runs that many simulated agents (the load
// generator) against a real scheduler, opens the dashboard as a monitor in
// headless Chromium, reloads it and logs the first contentful paint, the
// time until the fleet table is drawn and the snapshot's size; then how
// long one node's change takes to show. TETHER_DASHBOARD_SHOT=FILE saves a
// screenshot of the window (PNG).
func TestDashboardFirstPaint(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TETHER_DASHBOARD_NODES"))
	if n <= 0 {
		t.Skip("a measured run: set TETHER_DASHBOARD_NODES")
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	users := []mqttd.User{{Name: "tether-scheduler", Password: "sched-pw"}, {Name: "monitor", Password: "mon-pw"}}
	var nodes []loadgen.Credential
	for i := range n {
		c := loadgen.Credential{User: fmt.Sprintf("pi-%05d", i), Password: "node-pw-" + strconv.Itoa(i)}
		nodes = append(nodes, c)
		users = append(users, mqttd.User{Name: c.User, Password: c.Password})
	}
	if _, err := mqttd.SetUsers(creds, users); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	url, _ := startServe(t, map[string]string{}, func(c *config.Config) {
		c.HTTP.Listen = httpAddr
		c.Embedded.CredentialsFile = creds
		c.FleetInterval = time.Second
	})
	g, err := loadgen.New(loadgen.Options{Broker: strings.TrimPrefix(url, "tcp://"), Nodes: nodes,
		Monitor: loadgen.Credential{User: "monitor", Password: "mon-pw"}, Ramp: 10 * time.Second, Steady: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopLoad := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		g.Run(ctx)
	}()
	defer func() {
		stopLoad()
		<-loadDone
	}()

	b := browser(t)
	base := "http://" + httpAddr + "/"
	do(t, b, "login", 60*time.Second, chromedp.Navigate(base), login("monitor", "mon-pw"), chromedp.WaitVisible(`#fleet tbody tr`))
	deadline := time.Now().Add(3 * time.Minute)
	for value(t, b, "online", chromedp.Text(`#sum-online`)) != strconv.Itoa(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the fleet did not come online: %s of %d", value(t, b, "online", chromedp.Text(`#sum-online`)), n)
		}
		time.Sleep(500 * time.Millisecond) // kept: each look asks the browser, so not testenv's 5 ms
	}

	t0 := time.Now()
	do(t, b, "reload", 60*time.Second, chromedp.Navigate(base), chromedp.WaitVisible(`#fleet tbody tr`))
	drawn := time.Since(t0)
	fcp := value(t, b, "first contentful paint",
		chromedp.Evaluate[float64](`performance.getEntriesByName("first-contentful-paint")[0].startTime`))
	if s := os.Getenv("TETHER_DASHBOARD_SHOT"); s != "" {
		png := value(t, b, "screenshot", chromedp.CaptureScreenshot())
		if err := os.WriteFile(s, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d nodes: first contentful paint %.0f ms, fleet table drawn %v after navigation, snapshot %d bytes",
		n, fcp, drawn.Round(time.Millisecond), snapshotSize(t, httpAddr))
}

// snapshotSize logs in over HTTP and returns the size of the stream's
// first event, the whole view.
func snapshotSize(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api/login", "application/json", strings.NewReader(`{"user":"monitor","password":"mon-pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/events", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	ev, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	sc := bufio.NewScanner(ev.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			return len(d)
		}
	}
	return -1
}
