package webhook_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ticketledger/ticketledger/relay/webhook"
)

// ExampleVerify shows a receiver checking a request before acting on it.
func ExampleVerify() {
	secret, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := []byte(`{"type":"ticket.approved","data":{"ticket_id":"42"}}`)
	sent := time.Now()

	h := http.Header{}
	webhook.SetHeaders(h, []webhook.Secret{secret}, "0b8d1c7e-5f0e-8a4b-9c3d-2e1f0a9b8c7d", sent, body)

	err := webhook.Verify([]webhook.Secret{secret}, h, body, time.Now(), 0)
	fmt.Println(err == nil)
	// Output: true
}
