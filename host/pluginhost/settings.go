package pluginhost

import (
	"maps"
	"os"
	"path/filepath"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// Environment variables of the host that become block settings when the
// code embedding the host gives none: the same variables that are the
// defaults of paperflow's --webhook-allow and --signing-cert.
const (
	WebhookAllowEnv = "PAPERFLOW_WEBHOOK_ALLOW"
	SigningCertEnv  = "PAPERFLOW_SIGNING_CERT"
)

// Settings are the host settings every block instance receives in
// Configure (sdk.Config.Settings), keyed by the sdk.Setting names.
type Settings map[string]string

// HostSettings builds block settings from the host's own configuration:
// the webhook allow-list and the signing certificate, made absolute so it
// does not depend on the block process's working directory.
func HostSettings(webhookAllow, signingCert string) Settings {
	s := Settings{sdk.SettingWebhookAllow: webhookAllow}
	if signingCert != "" {
		if abs, err := filepath.Abs(signingCert); err == nil {
			signingCert = abs
		}
		s[sdk.SettingSigningCert] = signingCert
	}
	return s
}

// SettingsFromEnv reads the block settings from the host's environment.
// It is what a Spec without settings gets, so a host built in code is
// configured by the same variables as the paperflow command.
func SettingsFromEnv() Settings {
	return HostSettings(os.Getenv(WebhookAllowEnv), os.Getenv(SigningCertEnv))
}

// orFromEnv returns s, or the settings of the environment when s is nil.
func (s Settings) orFromEnv() map[string]string {
	if s == nil {
		return SettingsFromEnv()
	}
	return maps.Clone(s)
}
