package client

import (
	"context"
	"errors"
	"net/http"
)

// PostWebhook delivers a webhook: POST url with body and content type; returns the messageId of the 200 answer.
//
// url is the channel's webhookUrl, token included (§4.2); the token never appears in returned
// errors. contentType decides how the relay reads the body: application/json (must parse),
// application/x-www-form-urlencoded, or anything else as raw text; "" sends none. A nil hc uses
// a default client with DefaultTimeout.
func PostWebhook(ctx context.Context, hc *http.Client, url, contentType string, body []byte) (messageID string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bodyReader(body))
	if err != nil {
		// url.Parse errors quote the URL, token and all.
		return "", errors.New("client: webhook: invalid URL")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	var out struct {
		MessageID string `json:"messageId"`
	}
	if err := do(httpClient(hc), req, &out); err != nil {
		return "", err
	}
	return out.MessageID, nil
}
