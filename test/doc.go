// Package test holds the end-to-end tests that build and run the real
// mailmanctl binary on a temporary var_dir, with nothing but loopback
// traffic. They are slower than unit tests and prove what only whole
// processes can: crashes, signals and several processes at once.
package test
