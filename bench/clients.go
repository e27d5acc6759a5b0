package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The client-side workload: the acre CLI, crane and oras each push and pull the
// same 4-layer image against one `acre serve`, as separate processes (so that
// their peak RSS is their own, from rusage). Each tool is used the way it is
// meant to be: acre and oras push files (and hash them), crane pushes an OCI
// image layout (whose index already carries the digests, so crane hashes
// nothing on push); on pull acre and oras write the layers as files, crane writes
// an OCI layout. Every tool runs with its default concurrency.

// clientTool is one client and how it pushes and pulls.
type clientTool struct {
	name string
	push func(ref string) *exec.Cmd
	pull func(ref, out string) *exec.Cmd
}

// clientImage is the image of the client workload: layer files on disk and the
// config that describes them.
type clientImage struct {
	dir    string
	names  []string
	specs  []blobSpec
	config []byte
}

func imageConfig(diffIDs []string) []byte {
	b, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	return b
}

// imageManifest is an OCI image manifest of uncompressed tar layers with their
// file names as titles, which acre pull and oras pull need.
func imageManifest(config []byte, names []string, specs []blobSpec) []byte {
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, ociManifest, desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digestOf(config), Size: int64(len(config))}, nil}
	for i, s := range specs {
		m.Layers = append(m.Layers, desc{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: s.digest, Size: s.size,
			Annotations: map[string]string{"org.opencontainers.image.title": names[i]}})
	}
	b, _ := json.Marshal(m)
	return b
}

// writeLayers (re)writes the image's layer files for seeds from base.
func (img *clientImage) writeLayers(base uint64, n int, size int64) error {
	img.names, img.specs = nil, nil
	var diffIDs []string
	for i := range n {
		s := blobSpec{seed: base + uint64(i), size: size}
		s.computeDigest()
		name := fmt.Sprintf("layer%d.tar", i)
		f, err := os.Create(filepath.Join(img.dir, name))
		if err != nil {
			return err
		}
		if _, err := s.reader().WriteTo(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		img.names = append(img.names, name)
		img.specs = append(img.specs, s)
		diffIDs = append(diffIDs, s.digest)
	}
	img.config = imageConfig(diffIDs)
	return nil
}

// writeLayout makes dir an OCI image layout of the image, its layer blobs hard
// links to the layer files (no copy), for crane push.
func (img *clientImage) writeLayout(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	put := func(b []byte) error {
		return os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(digestOf(b), "sha256:")), b, 0o644)
	}
	for i, s := range img.specs {
		if err := os.Link(filepath.Join(img.dir, img.names[i]), filepath.Join(blobs, strings.TrimPrefix(s.digest, "sha256:"))); err != nil {
			return err
		}
	}
	m := imageManifest(img.config, img.names, img.specs)
	if err := put(img.config); err != nil {
		return err
	}
	if err := put(m); err != nil {
		return err
	}
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":%q,"digest":%q,"size":%d}]}`, ociManifest, digestOf(m), len(m))
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// runClients pushes and pulls the image with each tool, alternating tools in every
// run.
func (b *bench) runClients(ctx context.Context) error {
	base := filepath.Join(b.tmp, "clients")
	a, err := startAcre(ctx, b.tools.acre, filepath.Join(base, "acre"), b.acreArg...)
	if err != nil {
		return err
	}
	c := newRegClient(a.url)
	defer func() {
		b.res.add("rss", "clients (acre serve only)", "MiB", false, "acre", float64(a.peakRSS())/mib)
		c.close()
		a.stop()
		_ = os.RemoveAll(base)
	}()
	home := filepath.Join(base, "home")
	img := &clientImage{dir: filepath.Join(base, "img")}
	for _, d := range []string{home, img.dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"), "NO_COLOR=1")
	total := b.p.clientLayer * int64(b.p.clientLayers)
	label := fmt.Sprintf("%s image (%d × %s)", sizeName(total), b.p.clientLayers, sizeName(b.p.clientLayer))

	// The image every tool pulls, pushed once with the bench's own client.
	if err := img.writeLayers(5_000_000, b.p.clientLayers, b.p.clientLayer); err != nil {
		return err
	}
	const pullRepo = "bench/pull"
	for _, s := range img.specs {
		if err := c.pushBlob(ctx, pullRepo, s); err != nil {
			return err
		}
	}
	if err := c.pushSmall(ctx, pullRepo, img.config); err != nil {
		return err
	}
	if err := c.putManifest(ctx, pullRepo, "v1", ociManifest, imageManifest(img.config, img.names, img.specs)); err != nil {
		return err
	}
	pullRef := a.host + "/" + pullRepo + ":v1"
	layout := filepath.Join(base, "layout")
	tools := []clientTool{
		{"acre",
			func(ref string) *exec.Cmd {
				cmd := exec.CommandContext(ctx, b.tools.acre, append([]string{"push", ref}, img.names...)...)
				cmd.Dir = img.dir
				return cmd
			},
			func(ref, out string) *exec.Cmd { return exec.CommandContext(ctx, b.tools.acre, "pull", ref, "-o", out) }},
		{"crane",
			func(ref string) *exec.Cmd {
				return exec.CommandContext(ctx, b.tools.crane, "push", "--insecure", layout, ref)
			},
			func(ref, out string) *exec.Cmd {
				return exec.CommandContext(ctx, b.tools.crane, "pull", "--insecure", "--format", "oci", ref, out)
			}},
		{"oras",
			func(ref string) *exec.Cmd {
				cmd := exec.CommandContext(ctx, b.tools.oras, append([]string{"push", "--plain-http", ref}, img.names...)...)
				cmd.Dir = img.dir
				return cmd
			},
			func(ref, out string) *exec.Cmd {
				return exec.CommandContext(ctx, b.tools.oras, "pull", "--plain-http", ref, "-o", out)
			}},
	}
	var floor int64
	record := func(op string, tool string, r spawnResult, serverCPU float64) {
		b.res.add("client", op+" "+label+": wall time", "s", false, tool, r.Wall.Seconds())
		b.res.add("client", op+" "+label+": client CPU", "s", false, tool, (r.User + r.Sys).Seconds())
		b.res.add("client", op+" "+label+": client peak RSS", "MiB", false, tool, float64(r.MaxRSS)/mib)
		b.res.add("client", op+" "+label+": server CPU", "s", false, tool, serverCPU)
		floor = max(floor, r.Floor)
	}
	defer func() {
		if floor > 0 {
			b.notes = append(b.notes, fmt.Sprintf("Client peak RSS is ru_maxrss of the client process, started through a small spawner (see bench/spawn.go); figures at or below the spawner's own peak, %.1f MiB, would be the spawner's, not the client's.", float64(floor)/mib))
		}
	}()
	pull := func(run int, t clientTool) error {
		out := filepath.Join(base, "out-"+t.name)
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		c0 := a.cpuSeconds()
		r, err := runTool(ctx, t.pull(pullRef, out), env, filepath.Join(base, "log-"+t.name))
		if err != nil {
			return err
		}
		cpu := a.cpuSeconds() - c0
		if err := checkPulled(out, t.name, img); err != nil {
			return err
		}
		if run >= 0 {
			record("pull", t.name, r, cpu)
		}
		_ = os.RemoveAll(out)
		syscall.Sync()
		return a.alive()
	}
	logf("clients: pull %s, %d runs (and one warm-up) per tool", label, b.p.clientRuns)
	for _, t := range tools {
		if err := pull(-1, t); err != nil {
			return err
		}
	}
	for r := range b.p.clientRuns {
		for _, t := range tools {
			if err := pull(r, t); err != nil {
				return err
			}
		}
	}

	logf("clients: push %s, %d runs per tool", label, b.p.clientRuns)
	for r := range b.p.clientRuns {
		for ti, t := range tools {
			// New content for every push, so that nothing is already on the server.
			if err := img.writeLayers(uint64(6_000_000+10_000*r+100*ti), b.p.clientLayers, b.p.clientLayer); err != nil {
				return err
			}
			if t.name == "crane" {
				if err := img.writeLayout(layout); err != nil {
					return err
				}
			}
			syscall.Sync()
			repo := fmt.Sprintf("bench/push-%s-%d", t.name, r)
			c0 := a.cpuSeconds()
			res, err := runTool(ctx, t.push(a.host+"/"+repo+":v1"), env, filepath.Join(base, "log-"+t.name))
			if err != nil {
				return err
			}
			record("push", t.name, res, a.cpuSeconds()-c0)
			// Check that the image arrived, every layer included.
			if _, _, err := c.expect(ctx, http.MethodHead, "/v2/"+repo+"/manifests/v1", nil, http.StatusOK); err != nil {
				return fmt.Errorf("%s push: %w", t.name, err)
			}
			for _, s := range img.specs {
				if _, _, err := c.expect(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+s.digest, nil, http.StatusOK); err != nil {
					return fmt.Errorf("%s push: %w", t.name, err)
				}
			}
			if err := a.alive(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPulled checks that a pull wrote every layer with its size: as files named
// by title (acre, oras) or as blobs of an OCI layout (crane).
func checkPulled(out, tool string, img *clientImage) error {
	for i, s := range img.specs {
		p := filepath.Join(out, img.names[i])
		if tool == "crane" {
			p = filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(s.digest, "sha256:"))
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s pull: %w", tool, err)
		}
		if st.Size() != s.size {
			return fmt.Errorf("%s pull: %s has %d bytes, want %d", tool, p, st.Size(), s.size)
		}
	}
	return nil
}
