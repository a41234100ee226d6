// Package pdfcrypt protects a PDF with a password: AES-256 encryption, the
// strongest the PDF standard has (PDF 2.0 / ISO 32000-2), done by pdfcpu.
package pdfcrypt

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() { model.ConfigPath = "disable" } // no pdfcpu configuration directory in $HOME

// Encrypt returns pdf encrypted with password, which both opens the file
// and grants every permission.
func Encrypt(pdf []byte, password string) (out []byte, err error) {
	if password == "" {
		return nil, errors.New("empty password")
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("encrypt PDF: %v", p)
		}
	}()
	conf := model.NewAESConfiguration(password, password, 256)
	var buf bytes.Buffer
	buf.Grow(len(pdf) + 4<<10)
	if err := api.Encrypt(bytes.NewReader(pdf), &buf, conf); err != nil {
		return nil, fmt.Errorf("encrypt PDF: %w", err)
	}
	return buf.Bytes(), nil
}
