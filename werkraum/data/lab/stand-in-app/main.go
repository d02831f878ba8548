// Command stand-in-app is the lab's STAND-IN for a tenant's app: it is not the app.
//
// Until the real apps are deployed (the app catalogue), the lab runs this one small
// program under every app image name the tenant stacks ask for, so the stacks'
// Deployments, Services, Ingress, volumes, quotas and policies are exercised with pods
// that really run. It keeps the contract the tenant program gives every app today: it
// listens on :8080, answers /healthz, runs as any non-root user with a read-only root
// file system and reads the tenant's branding from its environment. With -check URL
// it asks a URL, prints the status and the body, and exits 0 on a 2xx answer (a probe
// from inside another pod).
package main

import (
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

var brandingKeys = []string{"TENANT_NAME", "ASSISTANT_NAME", "PRIMARY_COLOR", "SECONDARY_COLOR", "WELCOME_MESSAGE", "PUBLIC_URL", "ENABLED_CONNECTORS"}

func page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	color := os.Getenv("PRIMARY_COLOR")
	fmt.Fprintf(w, "<!doctype html><title>%s</title><body style=\"border-top:8px solid %s\">",
		html.EscapeString(os.Getenv("TENANT_NAME")), html.EscapeString(color))
	fmt.Fprint(w, "<h1>STAND-IN</h1><p>This is Werkraum's lab stand-in, not the app this path will serve.</p><dl>")
	keys := append([]string(nil), brandingKeys...)
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "<dt>%s</dt><dd>%s</dd>", k, html.EscapeString(os.Getenv(k)))
	}
	fmt.Fprintf(w, "</dl><p>path %s</p></body>", html.EscapeString(r.URL.Path))
}

func check(url string) int {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	probe := flag.String("check", "", "ask this URL, print the answer and exit (0: a 2xx answer)")
	flag.Parse()
	if *probe != "" {
		os.Exit(check(*probe))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", page)
	fmt.Printf("stand-in-app: serving %s for %q (%s)\n", *listen, os.Getenv("TENANT_NAME"), strings.Join(os.Args[1:], " "))
	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
