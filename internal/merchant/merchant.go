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
	PublicKeyFile string // Alipay's public key (PEM)
}

// Wechat is a WeChat Pay merchant's settings; empty MchID: no WeChat Pay.
// One of PublicKeyFile (with PublicKeyID) or CertFile verifies WeChat
// Pay's signatures.
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
}

// Providers makes the providers configured (none when neither is),
// reporting every problem at once. Key material never appears in errors.
func Providers(a Alipay, w Wechat, log *slog.Logger) ([]payment.Provider, error) {
	var out []payment.Provider
	var errs []error
	if a.AppID != "" {
		key, err := payment.LoadSecret(a.KeyFile, "")
		errs = append(errs, err)
		pub, err := os.ReadFile(a.PublicKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("alipay public key: %w", err))
		}
		if err == nil && !key.Empty() {
			p, err := alipay.New(alipay.Config{Gateway: a.Gateway, AppID: a.AppID, PrivateKey: key, AlipayPublicKey: string(pub), Logger: log})
			errs = append(errs, err)
			if err == nil {
				out = append(out, p)
			}
		}
	}
	if w.MchID != "" {
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
		if w.PublicKeyFile != "" {
			c.PlatformPublicKey, err = readTrim(w.PublicKeyFile)
			errs = append(errs, err)
		} else if w.CertFile != "" {
			c.PlatformCertificate, err = readTrim(w.CertFile)
			errs = append(errs, err)
		}
		if errors.Join(errs...) == nil {
			p, err := wechat.New(c)
			errs = append(errs, err)
			if err == nil {
				out = append(out, p)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
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
