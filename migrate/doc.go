// Package migrate owns bringing another list server's lists into this
// site: a Mailman 2.1 list's config.pck, read with a pickle decoder (no
// Python is run, and no class the pickle names is), its settings
// translated as Mailman 3's import21 translates them and its rosters
// added with each member's options; and a 2.1 site's lists folder, list
// by list.
//
// It knows Mailman 2.1's settings, their values and their quirks; it
// does not know how the store keeps a setting (it goes through the same
// calls as the REST API) or how the command line prints a report.
package migrate
