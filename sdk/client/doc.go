// Package client submits sealing stage tasks to a running sealhost host
// (`host run`) over its unix socket, for sealing managers written in Go.
//
//	c, err := client.Dial(client.DefaultSocket("sealhost"))
//	if err != nil { ... }
//	defer c.Close()
//	var rep client.Report
//	resp, err := c.PC1(ctx, req, client.WithReport(&rep))
//
// Each call blocks while the host waits for a processor of the stage and
// its locks, then while the plugin works; cancelling ctx (or a deadline)
// gives up the call and frees whatever the host held for it. A failed task
// returns an error whose chain holds an *sdk.Error (the plugin's or the
// host's message and whether retrying can help): sdk.IsRetryable(err) and
// errors.As work on it. Calls are safe for concurrent use; one Client
// carries any number of concurrent tasks over one connection.
//
// Messages up to MaxMessageSize (256 MiB) pass both ways.
package client
