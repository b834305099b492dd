// Package merchant makes the payment providers (orderflow/payment/alipay,
// orderflow/payment/wechat) from a merchant's settings: ids inline, keys
// in files, as cmd/orderflow's flags name them. cmd/seatdev and the
// tests point the same settings at a paysim keys directory (FromPaysim).
//
// Concurrency: the functions keep no state.
package merchant

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"seatd/orderflow/payment"
	"seatd/orderflow/payment/alipay"
	"seatd/orderflow/payment/wechat"
	"seatd/paysim"
)

// Alipay is an Alipay merchant's settings; empty AppID: no Alipay.
type Alipay struct {
	Gateway       string // OpenAPI gateway URL (alipay.ProductionGateway when empty)
	AppID         string
	KeyFile       string // the app's private key (PEM)
	PublicKeyFile string // Alipay's public key (PEM); during a rotation several PEM blocks, the current key first
}

// Wechat is a WeChat Pay merchant's settings; empty MchID: no WeChat Pay.
// PublicKeyFile (with PublicKeyID), CertFile or both verify WeChat Pay's
// signatures; each file may hold several PEM blocks during a rotation
// (PublicKeyID then lists their ids in order, separated by commas).
type Wechat struct {
	BaseURL        string // API host (wechat.ProductionURL when empty)
	MchID, AppID   string
	Serial         string // the merchant certificate's serial
	KeyFile        string // the merchant's API private key (PEM)
	APIv3KeyFile   string // the 32-byte APIv3 key
	PublicKeyFile  string // WeChat Pay's public key (PEM)
	PublicKeyID    string // its id, PUB_KEY_ID_...
	CertFile       string // or WeChat Pay's platform certificate (PEM)
	SerialFromFile string // a file holding Serial instead (paysim's wechat_merchant_serial)
	// PublicKeyIDFromFile is a file holding PublicKeyID instead (ids
	// separated by commas or lines), read again on Reload with the keys.
	PublicKeyIDFromFile string
}

// Providers makes the providers configured (none when neither is),
// reporting every problem at once. Key material never appears in errors.
func Providers(a Alipay, w Wechat, log *slog.Logger) ([]payment.Provider, error) {
	var out []payment.Provider
	var errs []error
	if a.AppID != "" {
		c, err := a.config(log)
		if err == nil {
			var p *alipay.Provider
			if p, err = alipay.New(c); err == nil {
				out = append(out, p)
			}
		}
		errs = append(errs, err)
	}
	if w.MchID != "" {
		c, err := w.config(log)
		if err == nil {
			var p *wechat.Provider
			if p, err = wechat.New(c); err == nil {
				out = append(out, p)
			}
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Reload reads the key files of a and w again and gives each provider
// of providers (as Providers made them from a and w) its new keys: all
// of one provider's at once, or, when a file is missing or holds no
// usable key, none, the provider keeping the keys it had (docs/keys.md).
// It reports every problem, naming the channel.
func Reload(a Alipay, w Wechat, providers []payment.Provider) error {
	var errs []error
	for _, p := range providers {
		var err error
		switch p := p.(type) {
		case *alipay.Provider:
			var c alipay.Config
			if c, err = a.config(nil); err == nil {
				err = p.Reload(c)
			}
		case *wechat.Provider:
			var c wechat.Config
			if c, err = w.config(nil); err == nil {
				err = p.Reload(c)
			}
		default:
			err = fmt.Errorf("merchant: %s: not a provider this package makes", p.Channel())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s keys: %w", p.Channel(), err))
		}
	}
	return errors.Join(errs...)
}

// config reads the Alipay merchant's key files into a provider config.
func (a Alipay) config(log *slog.Logger) (alipay.Config, error) {
	key, err := payment.LoadSecret(a.KeyFile, "")
	pub, perr := os.ReadFile(a.PublicKeyFile)
	if perr != nil {
		perr = fmt.Errorf("alipay public key: %w", perr)
	}
	if err := errors.Join(err, perr); err != nil {
		return alipay.Config{}, err
	}
	return alipay.Config{Gateway: a.Gateway, AppID: a.AppID, PrivateKey: key, AlipayPublicKey: string(pub), Logger: log}, nil
}

// config reads the WeChat Pay merchant's files into a provider config.
func (w Wechat) config(log *slog.Logger) (wechat.Config, error) {
	var errs []error
	key, err := payment.LoadSecret(w.KeyFile, "")
	errs = append(errs, err)
	v3, err := payment.LoadSecret(w.APIv3KeyFile, "")
	errs = append(errs, err)
	c := wechat.Config{BaseURL: w.BaseURL, MchID: w.MchID, AppID: w.AppID, MerchantPrivateKey: key, APIv3Key: v3,
		PlatformPublicKeyID: w.PublicKeyID, Logger: log}
	c.MerchantSerial = w.Serial
	if w.SerialFromFile != "" {
		c.MerchantSerial, err = readTrim(w.SerialFromFile)
		errs = append(errs, err)
	}
	if w.PublicKeyIDFromFile != "" {
		var ids string
		ids, err = readTrim(w.PublicKeyIDFromFile)
		errs = append(errs, err)
		c.PlatformPublicKeyID = strings.Join(strings.Fields(strings.ReplaceAll(ids, ",", " ")), ",")
	}
	if w.PublicKeyFile != "" {
		c.PlatformPublicKey, err = readTrim(w.PublicKeyFile)
		errs = append(errs, err)
	}
	if w.CertFile != "" {
		c.PlatformCertificate, err = readTrim(w.CertFile)
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// FromPaysim returns the settings of both merchants of a paysim keys
// directory (paysim.Keys.WriteDir) served at baseURL
// (http://127.0.0.1:PORT).
func FromPaysim(dir, baseURL string) (Alipay, Wechat, error) {
	id := func(name string) string {
		s, _ := readTrim(filepath.Join(dir, name))
		return s
	}
	a := Alipay{Gateway: baseURL + "/gateway.do", AppID: id(paysim.FileAlipayAppID),
		KeyFile: filepath.Join(dir, paysim.FileAlipayAppPrivateKey), PublicKeyFile: filepath.Join(dir, paysim.FileAlipayPublicKey)}
	w := Wechat{BaseURL: baseURL, MchID: id(paysim.FileWechatMchID), AppID: id(paysim.FileWechatAppID),
		Serial: id(paysim.FileWechatMerchantSN), KeyFile: filepath.Join(dir, paysim.FileWechatMerchantKey),
		APIv3KeyFile:  filepath.Join(dir, paysim.FileWechatAPIv3Key),
		PublicKeyFile: filepath.Join(dir, paysim.FileWechatPublicKey), PublicKeyID: id(paysim.FileWechatPublicKeyID)}
	if a.AppID == "" || w.MchID == "" {
		return a, w, fmt.Errorf("merchant: %s holds no paysim keys", dir)
	}
	return a, w, nil
}
