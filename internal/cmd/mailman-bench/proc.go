package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memory is the memory of a tree of processes, summed, in MiB. PSS counts
// the pages they share (the binary, the Python interpreter) once in all,
// which is what they cost the machine; RSS counts them in each.
type memory struct {
	PSS, RSS float64
	Procs    int
}

// treeMemory sums the memory of the processes rooted at roots.
func treeMemory(roots []int) (memory, error) {
	pids, err := tree(roots)
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // gone since the tree was read
		}
		m.Procs++
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "Pss:":
				m.PSS += float64(kb) / 1024
			case "Rss:":
				m.RSS += float64(kb) / 1024
			}
		}
	}
	if m.Procs == 0 {
		return m, fmt.Errorf("no process left of %v", roots)
	}
	return m, nil
}

// tree returns roots and all their descendants.
func tree(roots []int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields
		// after it start past the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		out = append(out, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out, nil
}

// sampler records the largest memory of a process tree seen while it runs.
type sampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak memory
}

func sample(roots func() ([]int, error), every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if rs, err := roots(); err == nil {
				if m, err := treeMemory(rs); err == nil {
					s.mu.Lock()
					if m.PSS > s.peak.PSS {
						s.peak = m
					}
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peak stops the sampler and returns the largest memory it saw.
func (s *sampler) Peak() memory {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
