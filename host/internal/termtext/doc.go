// Package termtext makes text that came from a plugin — its error messages,
// its stderr, its verification line — safe to print on an operator's
// terminal. A plugin is third-party code: an escape sequence in its error
// could recolour, move the cursor over, or retitle the terminal of whoever
// runs `host status` or `host seal`, and hide what the host printed.
package termtext
