package rest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailman-go/mailman/config"
	"github.com/mailman-go/mailman/message"
	"github.com/mailman-go/mailman/msgdata"
	"github.com/mailman-go/mailman/store"
	"github.com/mailman-go/mailman/switchboard"
)

// withQueue opens the queue the path names for f.
func (s *Server) withQueue(c *call, name string, f func(*switchboard.Switchboard) error) error {
	if !slices.Contains(config.QueueNames, name) {
		return notFound()
	}
	q, err := switchboard.Open(s.cfg.Paths().Queues, name)
	if err != nil {
		return err
	}
	defer q.Close()
	return f(q)
}

func (c *call) queue(q *switchboard.Switchboard) (object, error) {
	files, err := q.Files()
	if err != nil {
		return nil, err
	}
	if files == nil {
		files = []string{}
	}
	return object{"name": q.Name(), "directory": q.Dir(), "count": len(files), "files": files,
		"self_link": c.link("/queues/" + q.Name())}, nil
}

func (s *Server) queueRoutes() {
	s.handle("/queues", methods{"GET": func(c *call) error {
		var es []object
		for _, name := range config.QueueNames {
			err := s.withQueue(c, name, func(q *switchboard.Switchboard) error {
				o, err := c.queue(q)
				es = append(es, o)
				return err
			})
			if err != nil {
				return err
			}
		}
		return c.collection(page{limit: -1}, len(es), es)
	}})
	s.handle("/queues/{name}", methods{
		"GET": func(c *call) error {
			return s.withQueue(c, c.r.PathValue("name"), func(q *switchboard.Switchboard) error {
				o, err := c.queue(q)
				if err != nil {
					return err
				}
				return c.ok(o)
			})
		},
		"POST": func(c *call) error {
			if err := c.allow("list_id", "text"); err != nil {
				return err
			}
			listID, err := c.need("list_id")
			if err != nil {
				return err
			}
			text, err := c.need("text")
			if err != nil {
				return err
			}
			l, err := s.store.FindList(c.r.Context(), listID)
			if errors.Is(err, store.ErrNoSuchList) || errors.Is(err, store.ErrInvalidAddress) {
				return badRequest("No such list: " + listID)
			}
			if err != nil {
				return err
			}
			if _, err := message.Parse([]byte(text)); err != nil {
				return invalid("text", "not a message: "+err.Error())
			}
			return s.withQueue(c, c.r.PathValue("name"), func(q *switchboard.Switchboard) error {
				md := switchboard.Msgdata{}
				md.Set(msgdata.ListID, l.ListID)
				md.Set(msgdata.ToList, true)
				md.Set(msgdata.OriginalSize, len(text))
				md.Set(msgdata.ReceivedTime, time.Now().UTC().Format(time.RFC3339Nano))
				file, err := q.Enqueue([]byte(text), md)
				if err != nil {
					return err
				}
				s.log.Info("message injected", "queue", q.Name(), "entry", file, "list", l.ListID, "by", "rest")
				return c.created("/queues/" + q.Name() + "/" + filepath.Base(file))
			})
		},
	})
	s.handle("/queues/{name}/{file}", methods{
		"GET": func(c *call) error {
			return s.withQueue(c, c.r.PathValue("name"), func(q *switchboard.Switchboard) error {
				file := c.r.PathValue("file")
				if strings.ContainsAny(file, "/\\") || strings.HasPrefix(file, ".") {
					return notFound()
				}
				files, err := q.Files()
				if err != nil {
					return err
				}
				i := slices.IndexFunc(files, func(f string) bool { return f == file || strings.TrimSuffix(f, filepath.Ext(f)) == file })
				if i < 0 {
					return notFound()
				}
				e, err := switchboard.ReadFile(filepath.Join(q.Dir(), files[i]))
				if errors.Is(err, os.ErrNotExist) {
					return notFound()
				}
				if err != nil {
					return err
				}
				o := object{"name": files[i], "msg": string(e.Message), "self_link": c.link("/queues/" + q.Name() + "/" + files[i])}
				for k, v := range e.Msgdata {
					if _, taken := o[k]; !taken {
						o[k] = v
					}
				}
				return c.ok(o)
			})
		},
	})
}
