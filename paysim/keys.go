package paysim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Keys are the simulator's identities and key pairs: both sides of each
// protocol, since paysim verifies what the merchant signs and signs what
// the merchant verifies. A merchant's client config points at the files
// WriteDir makes (names below).
type Keys struct {
	// AlipayAppID is the Alipay app (APPID) the merchant calls as.
	AlipayAppID string
	// AlipayApp is the app's key pair: the merchant signs requests with
	// its private half (alipay_app_private_key.pem), paysim verifies with
	// the public half.
	AlipayApp *rsa.PrivateKey
	// Alipay is "Alipay's" key pair: paysim signs answers and
	// notifications with it; merchants verify with alipay_public_key.pem.
	Alipay *rsa.PrivateKey

	// WechatMchID and WechatAppID are the merchant and the app id the
	// merchant pays into.
	WechatMchID string
	WechatAppID string
	// WechatMerchant is the merchant's API key pair and its certificate
	// (apiclient_key.pem and apiclient_cert.pem in WeChat's words); its
	// serial is the merchant serial of the Authorization header.
	WechatMerchant     *rsa.PrivateKey
	WechatMerchantCert *x509.Certificate
	// WechatPlatform is WeChat Pay's key pair: paysim signs answers and
	// notifications with it. Merchants verify with its public key
	// (wechat_platform_public_key.pem, named by WechatPublicKeyID, the
	// "微信支付公钥" mode) or its certificate (wechat_platform_cert.pem,
	// the platform certificate mode).
	WechatPlatform     *rsa.PrivateKey
	WechatPlatformCert *x509.Certificate
	WechatPublicKeyID  string
	// WechatAPIv3Key is the 32-byte APIv3 key that encrypts notification
	// resources (AEAD_AES_256_GCM).
	WechatAPIv3Key []byte
}

// File names in a keys directory.
const (
	FileAlipayAppID         = "alipay_app_id"
	FileAlipayAppPrivateKey = "alipay_app_private_key.pem"
	FileAlipayPrivateKey    = "alipay_private_key.pem" // paysim's own; a merchant never needs it
	FileAlipayPublicKey     = "alipay_public_key.pem"
	FileWechatMchID         = "wechat_mch_id"
	FileWechatAppID         = "wechat_app_id"
	FileWechatMerchantKey   = "wechat_merchant_private_key.pem"
	FileWechatMerchantCert  = "wechat_merchant_cert.pem"
	FileWechatMerchantSN    = "wechat_merchant_serial"
	FileWechatPlatformKey   = "wechat_platform_private_key.pem" // paysim's own
	FileWechatPlatformCert  = "wechat_platform_cert.pem"
	FileWechatPublicKey     = "wechat_platform_public_key.pem"
	FileWechatPublicKeyID   = "wechat_platform_public_key_id"
	FileWechatAPIv3Key      = "wechat_apiv3_key"
)

// GenerateKeys makes a fresh set: four 2048-bit RSA key pairs (the size
// both providers require), self-signed certificates for the WeChat ones,
// and a random APIv3 key.
func GenerateKeys() (*Keys, error) {
	k := &Keys{AlipayAppID: "2021000000000001", WechatMchID: "1900000109", WechatAppID: "wxd678efh567hg6787"}
	var err error
	for _, p := range []**rsa.PrivateKey{&k.AlipayApp, &k.Alipay, &k.WechatMerchant, &k.WechatPlatform} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("paysim: generating a key: %w", err)
		}
	}
	if k.WechatMerchantCert, err = selfSigned(k.WechatMerchant, k.WechatMchID+" merchant"); err != nil {
		return nil, err
	}
	if k.WechatPlatformCert, err = selfSigned(k.WechatPlatform, "Tenpay.com Root CA (paysim)"); err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	k.WechatPublicKeyID = "PUB_KEY_ID_" + strings.ToUpper(hex.EncodeToString(id))
	const apiV3Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for i := range key {
		key[i] = apiV3Alphabet[int(key[i])%len(apiV3Alphabet)]
	}
	k.WechatAPIv3Key = key
	return k, nil
}

func selfSigned(key *rsa.PrivateKey, cn string) (*x509.Certificate, error) {
	serial := make([]byte, 20)
	_, _ = rand.Read(serial)
	serial[0] &= 0x7f
	serial[0] |= 0x40 // 20 bytes: 40 hex digits, as WeChat's serials
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"paysim"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("paysim: making a certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// CertSerial is a certificate's serial as WeChat writes it: upper-case
// hex.
func CertSerial(c *x509.Certificate) string { return strings.ToUpper(c.SerialNumber.Text(16)) }

// WriteDir writes every key and identity to dir (made 0700 if missing;
// files 0600), so that merchant configs can point at them and a later
// LoadDir gives the same simulator.
func (k *Keys) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("paysim: keys directory: %w", err)
	}
	files := map[string][]byte{
		FileAlipayAppID:         []byte(k.AlipayAppID + "\n"),
		FileAlipayAppPrivateKey: privatePEM(k.AlipayApp),
		FileAlipayPrivateKey:    privatePEM(k.Alipay),
		FileAlipayPublicKey:     publicPEM(&k.Alipay.PublicKey),
		FileWechatMchID:         []byte(k.WechatMchID + "\n"),
		FileWechatAppID:         []byte(k.WechatAppID + "\n"),
		FileWechatMerchantKey:   privatePEM(k.WechatMerchant),
		FileWechatMerchantCert:  certPEM(k.WechatMerchantCert),
		FileWechatMerchantSN:    []byte(CertSerial(k.WechatMerchantCert) + "\n"),
		FileWechatPlatformKey:   privatePEM(k.WechatPlatform),
		FileWechatPlatformCert:  certPEM(k.WechatPlatformCert),
		FileWechatPublicKey:     publicPEM(&k.WechatPlatform.PublicKey),
		FileWechatPublicKeyID:   []byte(k.WechatPublicKeyID + "\n"),
		FileWechatAPIv3Key:      k.WechatAPIv3Key,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("paysim: writing %s: %w", name, err)
		}
	}
	return nil
}

// LoadOrCreateDir loads the keys in dir, or, when dir has none yet
// (no alipay_app_id), generates a set and writes it there.
func LoadOrCreateDir(dir string) (*Keys, bool, error) {
	if _, err := os.Stat(filepath.Join(dir, FileAlipayAppID)); errors.Is(err, fs.ErrNotExist) {
		k, err := GenerateKeys()
		if err != nil {
			return nil, false, err
		}
		return k, true, k.WriteDir(dir)
	}
	k, err := LoadDir(dir)
	return k, false, err
}

// LoadDir reads a keys directory written by WriteDir. Errors name the
// file, never its content.
func LoadDir(dir string) (*Keys, error) {
	var errs []error
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("paysim: reading %s: %w", name, errors.Unwrap(err)))
		}
		return b
	}
	text := func(name string) string { return strings.TrimSpace(string(read(name))) }
	key := func(name string) *rsa.PrivateKey {
		k, err := ParsePrivateKey(read(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("paysim: %s: %w", name, err))
		}
		return k
	}
	cert := func(name string) *x509.Certificate {
		b, _ := pem.Decode(read(name))
		if b == nil {
			errs = append(errs, fmt.Errorf("paysim: %s: not a PEM certificate", name))
			return nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("paysim: %s: %w", name, err))
		}
		return c
	}
	k := &Keys{
		AlipayAppID:        text(FileAlipayAppID),
		AlipayApp:          key(FileAlipayAppPrivateKey),
		Alipay:             key(FileAlipayPrivateKey),
		WechatMchID:        text(FileWechatMchID),
		WechatAppID:        text(FileWechatAppID),
		WechatMerchant:     key(FileWechatMerchantKey),
		WechatMerchantCert: cert(FileWechatMerchantCert),
		WechatPlatform:     key(FileWechatPlatformKey),
		WechatPlatformCert: cert(FileWechatPlatformCert),
		WechatPublicKeyID:  text(FileWechatPublicKeyID),
		WechatAPIv3Key:     read(FileWechatAPIv3Key),
	}
	if len(k.WechatAPIv3Key) != 32 {
		errs = append(errs, fmt.Errorf("paysim: %s: %d bytes, want 32", FileWechatAPIv3Key, len(k.WechatAPIv3Key)))
	}
	return k, errors.Join(errs...)
}

// ParsePrivateKey reads an RSA private key in PEM, PKCS #8 or PKCS #1.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not a PEM private key")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("not an RSA key")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("neither a PKCS #8 nor a PKCS #1 RSA key")
	}
	return k, nil
}

func privatePEM(k *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func publicPEM(k *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
