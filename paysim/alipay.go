package paysim

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"seatd/orderflow/payment"
)

// The Alipay side: one gateway URL (/gateway.do) takes every call, named
// by its method parameter, form-encoded and signed RSA2 (SHA256withRSA)
// over the request's parameters sorted by name, as "k=v" joined by "&",
// leaving out sign and empty values (OpenAPI 签名规则, 自行实现签名).
// Answers are JSON {"<method with _>_response": {...}, "sign": "..."},
// the sign over the exact bytes of the inner object.

const alipayTime = "2006-01-02 15:04:05"

// alipaySignContent is the string Alipay signs: parameters sorted by
// name, empty ones and those in skip left out.
func alipaySignContent(v url.Values, skip ...string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if containsString(skip, k) {
			continue
		}
		for _, x := range v[k] {
			if x == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k + "=" + x)
		}
	}
	return b.String()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func rsaSign(key *rsa.PrivateKey, msg []byte) string {
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		panic(fmt.Sprintf("paysim: signing with a valid key failed: %v", err)) // a bug, not an operating error
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func rsaVerify(key *rsa.PublicKey, msg []byte, sig string) error {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return err
	}
	h := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], raw)
}

type alipayAnswer map[string]any

func alipayOK(kv ...any) alipayAnswer {
	a := alipayAnswer{"code": "10000", "msg": "Success"}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	return a
}

func alipayErr(code, msg, subCode, subMsg string) alipayAnswer {
	return alipayAnswer{"code": code, "msg": msg, "sub_code": subCode, "sub_msg": subMsg}
}

func alipayBusinessErr(subCode, subMsg string) alipayAnswer {
	return alipayErr("40004", "Business Failed", subCode, subMsg)
}

func (s *Server) alipayWrite(w http.ResponseWriter, method string, a alipayAnswer) {
	inner, _ := json.Marshal(a)
	name := strings.ReplaceAll(method, ".", "_") + "_response"
	var b bytes.Buffer
	b.WriteString(`{"`)
	b.WriteString(name)
	b.WriteString(`":`)
	b.Write(inner)
	b.WriteString(`,"sign":"`)
	b.WriteString(rsaSign(s.keys.Alipay, inner))
	b.WriteString(`"}`)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) alipayGateway(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	v := r.Form
	method := v.Get("method")
	if method == "" {
		s.alipayWrite(w, "error", alipayErr("40001", "Missing Required Arguments", "isv.missing-method", "缺少方法名参数"))
		return
	}
	if v.Get("app_id") != s.keys.AlipayAppID {
		s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数"))
		return
	}
	if v.Get("sign_type") != "RSA2" {
		s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型"))
		return
	}
	if err := rsaVerify(&s.keys.AlipayApp.PublicKey, []byte(alipaySignContent(v, "sign")), v.Get("sign")); err != nil {
		s.log.Info("paysim_alipay_bad_signature", "method", method)
		if method == "alipay.trade.page.pay" {
			http.Error(w, "paysim: invalid signature (isv.invalid-signature)", http.StatusBadRequest)
			return
		}
		s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错"))
		return
	}
	var biz map[string]any
	if c := v.Get("biz_content"); c != "" {
		if err := json.Unmarshal([]byte(c), &biz); err != nil {
			s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", "biz_content is not JSON"))
			return
		}
	}
	str := func(k string) string { x, _ := biz[k].(string); return x }
	switch method {
	case "alipay.trade.precreate":
		t, a := s.alipayCreate(v, str)
		if t != nil {
			a = alipayOK("out_trade_no", t.outTradeNo, "qr_code", s.payPageURL(Alipay, t.outTradeNo))
		}
		s.alipayWrite(w, method, a)
	case "alipay.trade.page.pay":
		t, a := s.alipayCreate(v, str)
		if t == nil {
			http.Error(w, fmt.Sprintf("paysim: %v %v", a["sub_code"], a["sub_msg"]), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, s.payPageURL(Alipay, t.outTradeNo), http.StatusFound)
	case "alipay.trade.query":
		s.alipayWrite(w, method, s.alipayQuery(str("out_trade_no")))
	case "alipay.trade.close":
		var a alipayAnswer
		switch err := s.closeTrade(Alipay, str("out_trade_no")); {
		case errors.Is(err, errNoTrade):
			a = alipayBusinessErr("ACQ.TRADE_NOT_EXIST", "交易不存在")
		case errors.Is(err, errPaid):
			a = alipayBusinessErr("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
		default:
			tv, _ := s.lookup(Alipay, str("out_trade_no"))
			a = alipayOK("out_trade_no", tv.OutTradeNo, "trade_no", tv.TradeNo)
		}
		s.alipayWrite(w, method, a)
	case "alipay.trade.refund":
		s.alipayWrite(w, method, s.alipayRefund(str))
	case "alipay.trade.fastpay.refund.query":
		s.alipayWrite(w, method, s.alipayRefundQuery(str("out_trade_no"), str("out_request_no")))
	case "alipay.data.dataservice.bill.downloadurl.query":
		date := str("bill_date")
		if str("bill_type") != "trade" {
			s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", "paysim bills bill_type trade only"))
			return
		}
		lines, err := s.Bill(Alipay, date)
		switch {
		case err != nil:
			s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", err.Error()))
		case len(lines) == 0:
			s.alipayWrite(w, method, alipayBusinessErr("isp.bill_not_exist", "账单不存在"))
		default:
			u := s.cfg.BaseURL + "/alipay/bill/download?" + url.Values{"date": {date}, "token": {s.billToken(Alipay, date)}}.Encode()
			s.alipayWrite(w, method, alipayOK("bill_download_url", u))
		}
	default:
		s.alipayWrite(w, method, alipayErr("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名"))
	}
}

// alipayCreate makes the trade of a precreate or page.pay; a nil trade
// comes with the error answer.
func (s *Server) alipayCreate(v url.Values, str func(string) string) (*trade, alipayAnswer) {
	amount, err := payment.ParseYuan(str("total_amount"))
	if err != nil || amount <= 0 {
		return nil, alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", "total_amount")
	}
	if str("out_trade_no") == "" || str("subject") == "" {
		return nil, alipayErr("40001", "Missing Required Arguments", "isv.missing-parameter", "out_trade_no, subject")
	}
	var expire time.Time
	if te := str("time_expire"); te != "" {
		if expire, err = time.ParseInLocation(alipayTime, te, cst); err != nil {
			return nil, alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", "time_expire: yyyy-MM-dd HH:mm:ss")
		}
	}
	t, err := s.create(newTrade{channel: Alipay, outTradeNo: str("out_trade_no"), appID: s.keys.AlipayAppID,
		subject: str("subject"), amount: amount, expire: expire, notifyURL: v.Get("notify_url"), returnURL: v.Get("return_url")})
	switch {
	case errors.Is(err, errFull):
		return nil, alipayErr("20000", "Service Currently Unavailable", "isp.unknow-error", err.Error())
	case errors.Is(err, errPaid):
		return nil, alipayBusinessErr("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
	case errors.Is(err, errClosed):
		return nil, alipayBusinessErr("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	case errors.Is(err, errInconsistent):
		return nil, alipayBusinessErr("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
	}
	return t, nil
}

func (s *Server) alipayQuery(outTradeNo string) alipayAnswer {
	tv, err := s.lookup(Alipay, outTradeNo)
	if err != nil {
		return alipayBusinessErr("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	a := alipayOK("out_trade_no", tv.OutTradeNo, "trade_no", tv.TradeNo, "total_amount", payment.Yuan(tv.AmountCents),
		"subject", tv.Subject, "trade_status", alipayStatus(tv.State))
	if !tv.PaidAt.IsZero() {
		a["send_pay_date"] = tv.PaidAt.In(cst).Format(alipayTime)
		a["buyer_pay_amount"] = payment.Yuan(tv.AmountCents)
		a["receipt_amount"] = payment.Yuan(tv.AmountCents)
		a["buyer_logon_id"] = "buy***@paysim.test"
		a["buyer_user_id"] = "2088000000000001"
	}
	return a
}

func alipayStatus(state string) string {
	switch state {
	case StateSuccess:
		return "TRADE_SUCCESS"
	case StateClosed, StateRefunded:
		return "TRADE_CLOSED"
	}
	return "WAIT_BUYER_PAY"
}

func (s *Server) alipayRefund(str func(string) string) alipayAnswer {
	amount, err := payment.ParseYuan(str("refund_amount"))
	if err != nil || amount <= 0 {
		return alipayErr("40002", "Invalid Arguments", "isv.invalid-parameter", "refund_amount")
	}
	outRequestNo := str("out_request_no")
	if outRequestNo == "" {
		outRequestNo = str("out_trade_no") // Alipay: without one, the refund is named by the trade
	}
	rv, repeat, err := s.refund(newRefund{channel: Alipay, outTradeNo: str("out_trade_no"), outRequestNo: outRequestNo,
		reason: str("refund_reason"), amount: amount})
	switch {
	case errors.Is(err, errNoTrade):
		return alipayBusinessErr("ACQ.TRADE_NOT_EXIST", "交易不存在")
	case errors.Is(err, errNotPaid):
		return alipayBusinessErr("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	case errors.Is(err, errOverRefund), errors.Is(err, errTooMany):
		return alipayBusinessErr("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	case err != nil:
		return alipayErr("20000", "Service Currently Unavailable", "isp.unknow-error", err.Error())
	}
	change := "Y"
	if repeat {
		change = "N" // Alipay: a repeated request changes no money
	}
	return alipayOK("out_trade_no", rv.OutTradeNo, "trade_no", rv.TradeNo, "fund_change", change,
		"refund_fee", payment.Yuan(rv.Refunded), "buyer_logon_id", "buy***@paysim.test",
		"gmt_refund_pay", rv.DoneAt.In(cst).Format(alipayTime))
}

func (s *Server) alipayRefundQuery(outTradeNo, outRequestNo string) alipayAnswer {
	rv, err := s.findRefund(Alipay, outTradeNo, outRequestNo)
	if err != nil {
		// Alipay answers success without refund_status for a refund it
		// does not know (alipay.trade.fastpay.refund.query).
		return alipayOK("out_trade_no", outTradeNo, "out_request_no", outRequestNo)
	}
	return alipayOK("out_trade_no", rv.OutTradeNo, "trade_no", rv.TradeNo, "out_request_no", rv.OutRequestNo,
		"total_amount", payment.Yuan(rv.TotalCents), "refund_amount", payment.Yuan(rv.AmountCents),
		"refund_status", "REFUND_SUCCESS", "gmt_refund_pay", rv.DoneAt.In(cst).Format(alipayTime))
}

// alipayNotice is the content of an Alipay notification, without
// notify_time and sign, which each attempt adds.
type alipayNotice struct {
	params      url.Values
	amountField string // the amount the wrong-amount and tamper faults change
}

func (s *Server) notifyPaymentLocked(t *trade) {
	if t.notifyURL == "" {
		return
	}
	no := &notice{channel: t.channel, url: t.notifyURL, kind: "pay", outTradeNo: t.outTradeNo}
	s.seq++
	if t.channel == Alipay {
		no.id = fmt.Sprintf("2024%028d", s.seq)
		no.alipay = alipayNotice{amountField: "total_amount", params: url.Values{
			"notify_type": {"trade_status_sync"}, "notify_id": {no.id}, "app_id": {t.appID},
			"charset": {"utf-8"}, "version": {"1.0"}, "trade_no": {t.tradeNo}, "out_trade_no": {t.outTradeNo},
			"trade_status": {"TRADE_SUCCESS"}, "total_amount": {payment.Yuan(t.amount)},
			"receipt_amount": {payment.Yuan(t.amount)}, "buyer_pay_amount": {payment.Yuan(t.amount)},
			"subject": {t.subject}, "gmt_create": {t.created.In(cst).Format(alipayTime)},
			"gmt_payment": {t.paidAt.In(cst).Format(alipayTime)}, "buyer_id": {"2088000000000001"},
			"seller_id": {"2088000000000002"},
		}}
	} else {
		no.id = s.wechatNoticeIDLocked()
		no.wechat = s.wechatPaymentNoticeLocked(t)
	}
	s.notifier.add(no, s.faults.Delay)
}

func (s *Server) notifyRefundLocked(r *refund) {
	t := r.t
	no := &notice{channel: t.channel, kind: "refund", outTradeNo: t.outTradeNo, outRequestNo: r.outRequestNo}
	s.seq++
	delay := s.faults.Delay
	if t.channel == Alipay {
		// Alipay notifies a refund on the trade's notify_url, as a trade
		// status change: TRADE_SUCCESS after a partial refund,
		// TRADE_CLOSED after a full one, with refund_fee the total
		// refunded (异步通知参数说明).
		no.url = t.notifyURL
		status := "TRADE_SUCCESS"
		if t.refunded >= t.amount {
			status = "TRADE_CLOSED"
		}
		no.id = fmt.Sprintf("2024%028d", s.seq)
		no.alipay = alipayNotice{amountField: "send_back_fee", params: url.Values{
			"notify_type": {"trade_status_sync"}, "notify_id": {no.id}, "app_id": {t.appID},
			"charset": {"utf-8"}, "version": {"1.0"}, "trade_no": {t.tradeNo}, "out_trade_no": {t.outTradeNo},
			"out_biz_no": {r.outRequestNo}, "trade_status": {status}, "total_amount": {payment.Yuan(t.amount)},
			"refund_fee": {payment.Yuan(t.refunded)}, "send_back_fee": {payment.Yuan(r.amount)},
			"subject": {t.subject}, "gmt_create": {t.created.In(cst).Format(alipayTime)},
			"gmt_payment": {t.paidAt.In(cst).Format(alipayTime)}, "gmt_refund": {r.doneAt.In(cst).Format(alipayTime) + ".000"},
		}}
	} else {
		no.url = r.notifyURL
		no.id = s.wechatNoticeIDLocked()
		no.wechat = s.wechatRefundNoticeLocked(r)
		delay += s.cfg.WechatRefundDelay
	}
	if no.url == "" {
		return
	}
	s.notifier.add(no, delay)
}

// alipayNotification builds one attempt: form-encoded, signed over the
// sorted parameters less sign and sign_type (异步通知验签).
func (s *Server) alipayNotification(no *notice, f drawn) ([]byte, http.Header, error) {
	v := url.Values{}
	for k, x := range no.alipay.params {
		v[k] = append([]string(nil), x...)
	}
	v.Set("notify_time", time.Now().In(cst).Format(alipayTime))
	if f.wrongApp {
		v.Set("app_id", "2021009999999999")
	}
	if f.wrongAmount {
		c, _ := payment.ParseYuan(v.Get(no.alipay.amountField))
		v.Set(no.alipay.amountField, payment.Yuan(c+1))
	}
	key := s.keys.Alipay
	if f.forge {
		key = s.forger.key
	}
	v.Set("sign", rsaSign(key, []byte(alipaySignContent(v, "sign", "sign_type"))))
	v.Set("sign_type", "RSA2")
	if f.tamper {
		c, _ := payment.ParseYuan(v.Get(no.alipay.amountField))
		v.Set(no.alipay.amountField, payment.Yuan(c*10))
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return []byte(v.Encode()), h, nil
}

// forger holds a key pair that is nobody's: forged notifications are
// signed with it.
type forger struct{ key *rsa.PrivateKey }

func newForger() (*forger, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("paysim: forger key: %w", err)
	}
	return &forger{key: k}, nil
}

// Alipay's bill columns (业务明细, alipay.data.dataservice.bill.downloadurl.query):
// the file is a zip of GBK CSV files; the detail file starts with '#'
// comment lines, then this header, then one line per payment or refund,
// refunds with negative amounts.
var alipayBillHeader = []string{"支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
	"操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
	"商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"}

func (s *Server) alipayBillDownload(w http.ResponseWriter, r *http.Request) {
	date, token := r.URL.Query().Get("date"), r.URL.Query().Get("token")
	if !s.goodBillToken(Alipay, date, token) {
		http.Error(w, "paysim: bad bill token", http.StatusForbidden)
		return
	}
	lines, err := s.Bill(Alipay, date)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var csvBuf bytes.Buffer
	csvBuf.WriteString("#支付宝业务明细查询\r\n#账号：[20880000000000020156]\r\n#起始日期：[" + date + " 00:00:00]   终止日期：[" + date + " 23:59:59]\r\n")
	cw := csv.NewWriter(&csvBuf)
	cw.UseCRLF = true
	_ = cw.Write(alipayBillHeader)
	for _, l := range lines {
		kind, amount, req := "交易", payment.Yuan(l.AmountCents), ""
		if l.Kind == "refund" {
			kind, amount, req = "退款", payment.Yuan(-l.AmountCents), l.OutRequestNo
		}
		_ = cw.Write([]string{l.TradeNo, l.OutTradeNo, kind, l.Subject, l.CreatedAt.In(cst).Format(alipayTime),
			l.At.In(cst).Format(alipayTime), "", "", "", "", "buy***@paysim.test", amount, amount, "0.00", "0.00", "0.00",
			"0.00", "0.00", "", "0.00", "0.00", req, "0.00", "0.00", ""})
	}
	cw.Flush()
	csvBuf.WriteString("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
	fmt.Fprintf(&csvBuf, "#交易合计：%d笔\r\n#导出时间：[%s]\r\n", len(lines), time.Now().In(cst).Format(alipayTime))
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(csvBuf.Bytes())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	day := strings.ReplaceAll(date, "-", "")
	f, _ := zw.Create("20880000000000020156_" + day + "_业务明细.csv")
	_, _ = f.Write(gbk)
	_ = zw.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+day+`.csv.zip"`)
	_, _ = w.Write(zbuf.Bytes())
}
