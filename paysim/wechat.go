package paysim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"seatd/orderflow/payment"
)

// The WeChat Pay API v3 side. Requests carry
//
//	Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",timestamp="..",serial_no="..",signature=".."
//
// where signature is SHA256withRSA by the merchant's API key over
// "METHOD\nURI\ntimestamp\nnonce\nbody\n" (签名生成). Answers carry
// Wechatpay-Timestamp, -Nonce, -Serial and -Signature, the signature by
// the platform key over "timestamp\nnonce\nbody\n" (应答签名验证).
// Errors are JSON {"code","message"} with a 4xx or 5xx status.

const wechatAuthScheme = "WECHATPAY2-SHA256-RSA2048"

// wechatClockSkew is how far a request's timestamp may be from now; WeChat
// and its SDK both allow 5 minutes.
const wechatClockSkew = 5 * time.Minute

type wechatHandler func(w http.ResponseWriter, r *http.Request, body []byte)

func (s *Server) wechatAuth(h wechatHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		if err != nil {
			s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "body too large")
			return
		}
		if err := s.wechatVerifyRequest(r, body); err != nil {
			s.log.Info("paysim_wechat_bad_signature", "path", r.URL.Path, "err", err)
			s.wechatError(w, r, http.StatusUnauthorized, "SIGN_ERROR", err.Error())
			return
		}
		if asked := r.Header.Get("Wechatpay-Serial"); asked != "" {
			s.mu.Lock()
			s.wechatNotifySerial = s.wechatSerial(asked)
			s.mu.Unlock()
		}
		h(w, r, body)
	}
}

// wechatAuthRaw is wechatAuth for the bill file, whose answer is not
// signed.
func (s *Server) wechatAuthRaw(h wechatHandler) http.HandlerFunc { return s.wechatAuth(h) }

func (s *Server) wechatVerifyRequest(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	scheme, params, ok := strings.Cut(auth, " ")
	if !ok || scheme != wechatAuthScheme {
		return errors.New("Authorization is not " + wechatAuthScheme)
	}
	p := map[string]string{}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	if p["mchid"] != s.keys.WechatMchID {
		return fmt.Errorf("mchid %q is not this merchant", p["mchid"])
	}
	if !strings.EqualFold(p["serial_no"], CertSerial(s.keys.WechatMerchantCert)) {
		return errors.New("serial_no is not the merchant certificate's")
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil || math.Abs(float64(time.Now().Unix()-ts)) > wechatClockSkew.Seconds() {
		return errors.New("timestamp missing or more than 5 minutes away")
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(body) + "\n"
	if err := rsaVerify(&s.keys.WechatMerchant.PublicKey, []byte(msg), p["signature"]); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

func nonce(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// wechatSerial is the serial the answer names: the platform public key's
// id, unless the merchant asked (Wechatpay-Serial) for the certificate's.
func (s *Server) wechatSerial(asked string) string {
	if cs := CertSerial(s.keys.WechatPlatformCert); strings.EqualFold(asked, cs) {
		return cs
	}
	return s.keys.WechatPublicKeyID
}

// wechatSigned writes signed headers for body with the platform key (or,
// for a forged notification, the forger's).
func (s *Server) wechatSigned(h http.Header, body []byte, serial string, key *rsa.PrivateKey) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	n := nonce(32)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", n)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", wechatAuthScheme)
	h.Set("Wechatpay-Signature", rsaSign(key, []byte(ts+"\n"+n+"\n"+string(body)+"\n")))
	h.Set("Request-ID", "paysim-"+nonce(16))
}

func (s *Server) wechatWrite(w http.ResponseWriter, r *http.Request, status int, v any) {
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
	}
	s.wechatSigned(w.Header(), body, s.wechatSerial(r.Header.Get("Wechatpay-Serial")), s.keys.WechatPlatform)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) wechatError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.wechatWrite(w, r, status, map[string]string{"code": code, "message": msg})
}

type wxAmount struct {
	Total         int64  `json:"total"`
	PayerTotal    int64  `json:"payer_total,omitempty"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency,omitempty"`
}

// wxTransaction is a transaction as the query answers and the payment
// notification's resource show it (支付成功回调通知, 查询订单).
type wxTransaction struct {
	Appid          string            `json:"appid"`
	Mchid          string            `json:"mchid"`
	OutTradeNo     string            `json:"out_trade_no"`
	TransactionID  string            `json:"transaction_id,omitempty"`
	TradeType      string            `json:"trade_type,omitempty"`
	TradeState     string            `json:"trade_state"`
	TradeStateDesc string            `json:"trade_state_desc"`
	BankType       string            `json:"bank_type,omitempty"`
	SuccessTime    string            `json:"success_time,omitempty"`
	Payer          map[string]string `json:"payer,omitempty"`
	Amount         wxAmount          `json:"amount"`
}

type wxRefundAmount struct {
	Total            int64  `json:"total"`
	Refund           int64  `json:"refund"`
	PayerTotal       int64  `json:"payer_total"`
	PayerRefund      int64  `json:"payer_refund"`
	SettlementRefund int64  `json:"settlement_refund"`
	SettlementTotal  int64  `json:"settlement_total"`
	DiscountRefund   int64  `json:"discount_refund"`
	Currency         string `json:"currency"`
}

// wxRefund is a refund as the refund calls answer it (退款申请, 查询单笔退款).
type wxRefund struct {
	RefundID            string         `json:"refund_id"`
	OutRefundNo         string         `json:"out_refund_no"`
	TransactionID       string         `json:"transaction_id"`
	OutTradeNo          string         `json:"out_trade_no"`
	Channel             string         `json:"channel"`
	UserReceivedAccount string         `json:"user_received_account"`
	SuccessTime         string         `json:"success_time,omitempty"`
	CreateTime          string         `json:"create_time"`
	Status              string         `json:"status"`
	FundsAccount        string         `json:"funds_account"`
	Amount              wxRefundAmount `json:"amount"`
}

// wxRefundResource is the refund notification's resource (退款结果回调通知).
type wxRefundResource struct {
	Mchid               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

func (s *Server) wechatPrepay(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Appid       string    `json:"appid"`
		Mchid       string    `json:"mchid"`
		Description string    `json:"description"`
		OutTradeNo  string    `json:"out_trade_no"`
		TimeExpire  string    `json:"time_expire"`
		NotifyURL   string    `json:"notify_url"`
		Amount      *wxAmount `json:"amount"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "body is not JSON")
		return
	}
	if req.Mchid != s.keys.WechatMchID || req.Appid != s.keys.WechatAppID {
		s.wechatError(w, r, http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
		return
	}
	if req.OutTradeNo == "" || req.Description == "" || req.NotifyURL == "" || req.Amount == nil || req.Amount.Total <= 0 {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "out_trade_no, description, notify_url and amount.total are required")
		return
	}
	var expire time.Time
	if req.TimeExpire != "" {
		var err error
		if expire, err = time.Parse(time.RFC3339, req.TimeExpire); err != nil {
			s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "time_expire: rfc3339")
			return
		}
	}
	t, err := s.create(newTrade{channel: Wechat, outTradeNo: req.OutTradeNo, appID: req.Appid, mchID: req.Mchid,
		subject: req.Description, amount: req.Amount.Total, expire: expire, notifyURL: req.NotifyURL})
	switch {
	case errors.Is(err, errFull):
		s.wechatError(w, r, http.StatusInternalServerError, "SYSTEM_ERROR", err.Error())
	case errors.Is(err, errPaid):
		s.wechatError(w, r, http.StatusBadRequest, "ORDERPAID", "该订单已支付")
	case errors.Is(err, errClosed):
		s.wechatError(w, r, http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭")
	case errors.Is(err, errInconsistent):
		s.wechatError(w, r, http.StatusBadRequest, "INVALID_REQUEST", "订单号重复")
	default:
		s.wechatWrite(w, r, http.StatusOK, map[string]string{"code_url": s.payPageURL(Wechat, t.outTradeNo)})
	}
}

func wechatState(state string) (string, string) {
	switch state {
	case StateSuccess:
		return "SUCCESS", "支付成功"
	case StateRefunded:
		return "REFUND", "转入退款"
	case StateClosed:
		return "CLOSED", "已关闭"
	}
	return "NOTPAY", "未支付"
}

func (s *Server) wechatTransaction(tv tradeView) wxTransaction {
	st, desc := wechatState(tv.State)
	tx := wxTransaction{Appid: tv.AppID, Mchid: tv.MchID, OutTradeNo: tv.OutTradeNo, TradeState: st, TradeStateDesc: desc,
		Amount: wxAmount{Total: tv.AmountCents, Currency: "CNY"}}
	if !tv.PaidAt.IsZero() {
		tx.TransactionID, tx.TradeType, tx.BankType = tv.TradeNo, "NATIVE", "OTHERS"
		tx.SuccessTime = tv.PaidAt.In(cst).Format(time.RFC3339)
		tx.Payer = map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
		tx.Amount.PayerTotal, tx.Amount.PayerCurrency = tv.AmountCents, "CNY"
	}
	return tx
}

func (s *Server) wechatQuery(w http.ResponseWriter, r *http.Request, _ []byte) {
	if r.URL.Query().Get("mchid") != s.keys.WechatMchID {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "mchid")
		return
	}
	tv, err := s.lookup(Wechat, r.PathValue("no"))
	if err != nil {
		s.wechatError(w, r, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	s.wechatWrite(w, r, http.StatusOK, s.wechatTransaction(tv))
}

func (s *Server) wechatClose(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Mchid string `json:"mchid"`
	}
	if json.Unmarshal(body, &req) != nil || req.Mchid != s.keys.WechatMchID {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "mchid")
		return
	}
	switch err := s.closeTrade(Wechat, r.PathValue("no")); {
	case errors.Is(err, errNoTrade):
		s.wechatError(w, r, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	case errors.Is(err, errPaid):
		s.wechatError(w, r, http.StatusBadRequest, "ORDERPAID", "订单已支付")
	default:
		s.wechatWrite(w, r, http.StatusNoContent, nil)
	}
}

func (s *Server) wechatRefundBody(rv refundView) wxRefund {
	status := "PROCESSING"
	out := wxRefund{RefundID: rv.RefundID, OutRefundNo: rv.OutRequestNo, TransactionID: rv.TradeNo, OutTradeNo: rv.OutTradeNo,
		Channel: "ORIGINAL", UserReceivedAccount: "支付用户零钱", CreateTime: rv.CreatedAt.In(cst).Format(time.RFC3339),
		FundsAccount: "AVAILABLE",
		Amount: wxRefundAmount{Total: rv.TotalCents, Refund: rv.AmountCents, PayerTotal: rv.TotalCents, PayerRefund: rv.AmountCents,
			SettlementRefund: rv.AmountCents, SettlementTotal: rv.TotalCents, Currency: "CNY"}}
	if rv.Done {
		status = "SUCCESS"
		out.SuccessTime = rv.DoneAt.In(cst).Format(time.RFC3339)
	}
	out.Status = status
	return out
}

func (s *Server) wechatRefund(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Reason      string `json:"reason"`
		NotifyURL   string `json:"notify_url"`
		Amount      struct {
			Refund   int64  `json:"refund"`
			Total    int64  `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OutTradeNo == "" || req.OutRefundNo == "" || req.Amount.Currency != "CNY" {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "out_trade_no, out_refund_no, amount.refund, amount.total and amount.currency CNY are required")
		return
	}
	tv, err := s.lookup(Wechat, req.OutTradeNo)
	if err != nil {
		s.wechatError(w, r, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		return
	}
	if req.Amount.Total != tv.AmountCents {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "订单金额与原订单金额不一致")
		return
	}
	rv, _, err := s.refund(newRefund{channel: Wechat, outTradeNo: req.OutTradeNo, outRequestNo: req.OutRefundNo,
		reason: req.Reason, notifyURL: req.NotifyURL, amount: req.Amount.Refund, total: req.Amount.Total})
	switch {
	case errors.Is(err, errNotPaid):
		s.wechatError(w, r, http.StatusForbidden, "INVALID_REQUEST", "订单状态不正确")
	case errors.Is(err, errOverRefund), errors.Is(err, errTooMany):
		s.wechatError(w, r, http.StatusBadRequest, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
	case errors.Is(err, errRefundClash):
		s.wechatError(w, r, http.StatusBadRequest, "INVALID_REQUEST", "退款单号已用于其他订单")
	case err != nil:
		s.wechatError(w, r, http.StatusInternalServerError, "SYSTEM_ERROR", err.Error())
	default:
		s.wechatWrite(w, r, http.StatusOK, s.wechatRefundBody(rv))
	}
}

func (s *Server) wechatRefundQuery(w http.ResponseWriter, r *http.Request, _ []byte) {
	rv, err := s.findRefund(Wechat, "", r.PathValue("no"))
	if err != nil {
		s.wechatError(w, r, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
		return
	}
	s.wechatWrite(w, r, http.StatusOK, s.wechatRefundBody(rv))
}

// WeChat's trade bill (申请交易账单, bill_type ALL): CSV, every value
// prefixed with '`', amounts in yuan, then a summary header and line.
var wechatBillHeader = []string{"交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
	"交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型",
	"退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"}

func (s *Server) wechatBillFile(lines []BillLine) []byte {
	var b bytes.Buffer
	b.WriteString(strings.Join(wechatBillHeader, ",") + "\r\n")
	var total, refunds int64
	for _, l := range lines {
		tick := func(v string) string { return "`" + v }
		row := []string{tick(l.At.In(cst).Format(time.DateTime)), tick(l.AppID), tick(l.MchID), tick("0"), tick(""),
			tick(l.TradeNo), tick(l.OutTradeNo), tick("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"), tick("NATIVE")}
		if l.Kind == "pay" {
			total += l.AmountCents
			row = append(row, tick("SUCCESS"), tick("OTHERS"), tick("CNY"), tick(payment.Yuan(l.AmountCents)), tick("0.00"),
				tick("0"), tick("0"), tick("0.00"), tick("0.00"), tick(""), tick(""), tick(l.Subject), tick(""), tick("0.00000"),
				tick("0.60%"), tick(payment.Yuan(l.TotalCents)), tick("0.00"), tick(""))
		} else {
			refunds += l.AmountCents
			row = append(row, tick("REFUND"), tick("OTHERS"), tick("CNY"), tick("0.00"), tick("0.00"),
				tick(l.RefundID), tick(l.OutRequestNo), tick(payment.Yuan(l.AmountCents)), tick("0.00"), tick("ORIGINAL"),
				tick("SUCCESS"), tick(l.Subject), tick(""), tick("0.00000"), tick("0.60%"), tick(payment.Yuan(l.TotalCents)),
				tick(payment.Yuan(l.AmountCents)), tick(""))
		}
		b.WriteString(strings.Join(row, ",") + "\r\n")
	}
	b.WriteString("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n")
	fmt.Fprintf(&b, "`%d,`%s,`%s,`0.00,`0.00000,`%s,`%s\r\n", len(lines), payment.Yuan(total), payment.Yuan(refunds),
		payment.Yuan(total), payment.Yuan(refunds))
	return b.Bytes()
}

func (s *Server) wechatTradeBill(w http.ResponseWriter, r *http.Request, _ []byte) {
	date := r.URL.Query().Get("bill_date")
	lines, err := s.Bill(Wechat, date)
	if err != nil {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", err.Error())
		return
	}
	if len(lines) == 0 {
		s.wechatError(w, r, http.StatusBadRequest, "NO_STATEMENT_EXIST", "账单文件不存在")
		return
	}
	sum := sha1.Sum(s.wechatBillFile(lines))
	s.wechatWrite(w, r, http.StatusOK, map[string]string{
		"hash_type":    "SHA1",
		"hash_value":   hex.EncodeToString(sum[:]),
		"download_url": s.cfg.BaseURL + "/v3/billdownload/file?" + url.Values{"date": {date}, "token": {s.billToken(Wechat, date)}}.Encode(),
	})
}

func (s *Server) wechatBillDownload(w http.ResponseWriter, r *http.Request, _ []byte) {
	date, token := r.URL.Query().Get("date"), r.URL.Query().Get("token")
	if !s.goodBillToken(Wechat, date, token) {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", "bad token")
		return
	}
	lines, err := s.Bill(Wechat, date)
	if err != nil {
		s.wechatError(w, r, http.StatusBadRequest, "PARAM_ERROR", err.Error())
		return
	}
	// The file's answer is not signed (下载账单: 应答不签名).
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(s.wechatBillFile(lines))
}

// wechatNotice is the content of a WeChat notification: its event and
// its resource in plain text, encrypted afresh by each attempt.
type wechatNotice struct {
	eventType    string // TRANSACTION.SUCCESS or REFUND.SUCCESS
	originalType string // transaction or refund
	summary      string
	createTime   time.Time
	transaction  wxTransaction
	refund       wxRefundResource
}

func (s *Server) wechatNoticeIDLocked() string {
	return fmt.Sprintf("EV-%s%012d", time.Now().In(cst).Format("20060102150405"), s.seq)
}

func (s *Server) wechatPaymentNoticeLocked(t *trade) wechatNotice {
	return wechatNotice{eventType: "TRANSACTION.SUCCESS", originalType: "transaction", summary: "支付成功",
		createTime: t.paidAt, transaction: s.wechatTransaction(s.viewLocked(t))}
}

func (s *Server) wechatRefundNoticeLocked(r *refund) wechatNotice {
	res := wxRefundResource{Mchid: r.t.mchID, OutTradeNo: r.t.outTradeNo, TransactionID: r.t.tradeNo,
		OutRefundNo: r.outRequestNo, RefundID: r.refundID, RefundStatus: "SUCCESS",
		SuccessTime: r.doneAt.In(cst).Format(time.RFC3339), UserReceivedAccount: "支付用户零钱"}
	res.Amount.Total, res.Amount.Refund, res.Amount.PayerTotal, res.Amount.PayerRefund = r.t.amount, r.amount, r.t.amount, r.amount
	return wechatNotice{eventType: "REFUND.SUCCESS", originalType: "refund", summary: "退款成功", createTime: r.doneAt, refund: res}
}

// wechatNotification builds one attempt: the resource encrypted with
// AEAD_AES_256_GCM under the APIv3 key (associated data: the original
// type; a 12-character nonce), the body signed like an answer
// (支付通知, 回调通知签名).
func (s *Server) wechatNotification(no *notice, f drawn) ([]byte, http.Header, error) {
	wn := no.wechat
	var plain []byte
	if wn.originalType == "transaction" {
		tx := wn.transaction
		if f.wrongApp {
			tx.Mchid, tx.Appid = "1900009999", "wx0000000000000000"
		}
		if f.wrongAmount {
			tx.Amount.Total++
			tx.Amount.PayerTotal++
		}
		plain, _ = json.Marshal(tx)
	} else {
		rr := wn.refund
		if f.wrongApp {
			rr.Mchid = "1900009999"
		}
		if f.wrongAmount {
			rr.Amount.Refund++
			rr.Amount.PayerRefund++
		}
		plain, _ = json.Marshal(rr)
	}
	block, err := aes.NewCipher(s.keys.WechatAPIv3Key)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	n := nonce(12)
	ct := gcm.Seal(nil, []byte(n), plain, []byte(wn.originalType))
	body, _ := json.Marshal(map[string]any{
		"id": no.id, "create_time": wn.createTime.In(cst).Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": wn.eventType, "summary": wn.summary,
		"resource": map[string]string{"original_type": wn.originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": wn.originalType, "nonce": n},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	key := s.keys.WechatPlatform
	if f.forge {
		key = s.forger.key
	}
	s.mu.Lock()
	serial := s.wechatNotifySerial
	s.mu.Unlock()
	if serial == "" {
		serial = s.keys.WechatPublicKeyID
	}
	s.wechatSigned(h, body, serial, key)
	if f.tamper {
		body = bytes.Replace(body, []byte(wn.summary), []byte("已篡改"), 1)
	}
	return body, h, nil
}
