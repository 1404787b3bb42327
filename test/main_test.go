package test

import (
	"testing"

	"github.com/mailman-go/mailman/internal/mailmantest"
)

func TestMain(m *testing.M) { mailmantest.Main(m) }
