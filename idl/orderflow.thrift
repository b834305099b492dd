// The order service's RPC contract (Kitex): one order, a buyer's orders,
// which partitions each instance owns, and the pay service beside it
// (payment attempts, their status, providers' notifications). Callers:
// the gateway, through the routing client (orderflow/orderclient). Regenerate kitex_gen/ with
// `make gen`.
namespace go orderflowrpc

// Code says what became of a call. The numbers are stable: never
// renumbered, only added to.
enum Code {
    OK = 0,
    NOT_FOUND = 1,   // the owner has no such order (it has applied its partition up to its stored offset)
    NOT_OWNER = 2,   // this instance does not own the partition; Status.owner names the instance that does
    UNAVAILABLE = 3, // the owner cannot answer yet (rebuilding its store, shutting down); retry later
    BAD_REQUEST = 4, // the request is malformed; Status.detail says how
    NOT_PAYABLE = 5,          // Pay: the order is not PENDING_PAYMENT, its hold lapsed, or one of its trades was paid
    UNKNOWN_CHANNEL = 6,      // Pay, Notify: no provider of that channel is configured on the instance
    UNSUPPORTED_MODE = 7,     // Pay: the mode is not qr or page, or the channel does not offer it (WeChat: qr only)
    TOO_MANY_ATTEMPTS = 8,    // Pay: the order had as many payment attempts as allowed
    PROVIDER_UNAVAILABLE = 9, // Pay, PaymentStatus: the provider could not be reached or failed; the attempt is recorded
    NO_PAYMENT = 10,          // PaymentStatus: the order has no payment attempt
    OVERLOADED = 11,          // Pay: too many trades open on the partition; retry later
    NO_PAY_SERVICE = 12,      // Pay, PaymentStatus, Notify, Refund, GetRefund: the instance runs no pay service (no provider configured)
    NOT_REFUNDABLE = 13,      // Refund: the order is not PAID or PARTIALLY_REFUNDED, or its seats are still being confirmed
    SEAT_NOT_IN_ORDER = 14,   // Refund: a seat id the order does not have
    SEAT_REFUNDED = 15,       // Refund: a seat refunded already or being refunded
    NOTHING_TO_REFUND = 16,   // Refund: every seat is refunded or being refunded
    REFUND_EXCEEDS = 17,      // Refund: it would take the refunds above what was paid
    TOO_MANY_REFUNDS = 18,    // Refund: the order has had as many refunds as allowed
    KEY_REUSED = 19,          // Refund: the request key names an earlier refund of other seats or another reason
}

// Status ends every response.
struct Status {
    1: Code code
    2: string code_name   // the code's stable name, e.g. "NOT_OWNER"
    3: string detail      // for messages only
    4: i32 partition      // the partition the request routes to (NOT_OWNER, NOT_FOUND, UNAVAILABLE)
    5: i32 owner          // NOT_OWNER: the instance (0-based) that owns it
}

struct Seat {
    1: string id
    2: string label
    3: string category
    4: i64 price_cents
}

// Order is an order as the service stores it (docs/orderflow.md). Times
// are RFC 3339 in UTC; money is integer cents; ids are decimal strings.
struct Order {
    1: string order_no
    2: string hold_id
    3: string program_id
    4: string user_id
    5: string status        // PENDING_PAYMENT, PAID, REFUND_DUE, CANCELLED, EXPIRED, REFUNDED, PARTIALLY_REFUNDED
    6: list<Seat> seats
    7: i64 total_cents
    8: i64 paid_cents
    9: i64 refunded_cents
    10: string created_at
    11: string expires_at
    12: i32 from
    13: i32 to
    14: string from_stop
    15: string to_stop
    16: string reason       // why the hold was released: cancelled, expired, refused
    17: string hold_status  // HELD, CONFIRMED, RELEASED, REFUNDED
    18: string updated_at
    19: i64 version         // the record's version: 1 when placed, +1 per change
    20: list<string> refunded_seat_ids
    21: list<OrderRefund> refunds  // the refunds' outcomes the order applied, in that order
}

// OrderRefund is a refund's outcome as the order applied it (pay.events).
struct OrderRefund {
    1: string refund_no       // the out_request_no: GET /v1/refunds/{refund_no} reads it
    2: string out_trade_no
    3: i64 amount_cents
    4: string status          // SUCCEEDED or FAILED
    5: list<string> seat_ids
}

struct GetOrderRequest {
    1: string order_no
}

struct GetOrderResponse {
    1: Status status
    2: optional Order order
}

struct ListOrdersRequest {
    1: string user_id
    2: string cursor   // "" for the first page, else the previous page's next_cursor
    3: i32 limit       // 1-100; 0 means 20
}

struct ListOrdersResponse {
    1: Status status
    2: list<Order> orders   // newest first
    3: string next_cursor   // "" when there are no more
}

struct DescribeRequest {}

struct DescribeResponse {
    1: Status status
    2: i32 instance
    3: i32 instances
    4: i32 partitions
    5: list<i32> owned   // the partitions this instance owns
    6: bool ready        // every owned partition rebuilt and caught up with what seat.holds held at start
}

// Payment is one payment attempt (a trade) of an order (docs/pay.md).
// Money is integer cents; times RFC 3339 in UTC.
struct Payment {
    1: string order_no
    2: string out_trade_no    // ours: "<order_no>_<attempt, 2 digits>"
    3: string trade_no        // the provider's, once it gave one
    4: string channel         // alipay, wechat
    5: string mode            // qr, page
    6: i64 amount_cents
    7: string qr_code         // mode qr: the QR code's content
    8: string pay_url         // mode page: the URL to open
    9: string status          // the provider's state: WAIT_BUYER_PAY, SUCCESS, CLOSED, REFUNDED, NOT_FOUND
    10: string time_expire    // the hold's expiry: the trade cannot be paid after it
    11: string paid_at
}

struct PayRequest {
    1: string order_no
    2: string user_id   // the buyer: the order must be theirs
    3: string channel   // alipay, wechat
    4: string mode      // qr, page
}

struct PayResponse {
    1: Status status
    2: optional Payment payment
}

struct PaymentStatusRequest {
    1: string order_no
    2: string user_id
}

struct PaymentStatusResponse {
    1: Status status
    2: optional Payment payment  // also with PROVIDER_UNAVAILABLE: the latest attempt as recorded
}

// NotifyRequest is a provider's notification as the gateway received it.
struct NotifyRequest {
    1: string channel                      // alipay, wechat: the route it came to
    2: map<string, list<string>> header    // the HTTP headers
    3: binary body
}

// NotifyResponse is what to answer the provider, exactly (with OK; with
// NOT_OWNER the client asks the owner instead).
struct NotifyResponse {
    1: Status status
    2: i32 http_status
    3: string content_type
    4: binary body
}

// Refund is one refund of a trade (docs/pay.md): of seats of a paid
// order, or of a payment owed back. Money is integer cents; times RFC
// 3339 in UTC.
struct Refund {
    1: string refund_no        // ours, the provider's out_request_no: "<order_no>_R<n>", or "R<out_trade_no>" for a payment owed back
    2: string order_no
    3: string out_trade_no     // the trade refunded
    4: string channel
    5: i64 amount_cents
    6: string status           // REQUESTED, PROCESSING, SUCCEEDED, FAILED
    7: list<string> seat_ids   // the seats refunded (none for a payment owed back)
    8: string reason
    9: string detail           // FAILED: the provider's words
    10: string initiator       // buyer, operator, system
    11: string created_at
    12: string updated_at
    13: string user_id
    14: string refunded_at     // SUCCEEDED: when the provider says it refunded
}

struct RefundRequest {
    1: string order_no
    2: string user_id            // the buyer: the order must be theirs (ignored with operator)
    3: bool operator             // an operator refunds any order
    4: list<string> seat_ids     // none: every seat not refunded yet
    5: string reason
    6: string request_key        // the Idempotency-Key, if any
}

struct RefundResponse {
    1: Status status
    2: optional Refund refund
    3: bool replayed             // request_key named this earlier refund
    4: string seat               // SEAT_NOT_IN_ORDER, SEAT_REFUNDED: the seat refused
}

struct GetRefundRequest {
    1: string refund_no
    2: string user_id
    3: bool operator
}

struct GetRefundResponse {
    1: Status status
    2: optional Refund refund
}

// ---- Reconciliation exports (orderflow reconcile, docs/reconcile.md) ----
//
// Records travel as the JSON the stores keep: an order as the orders
// changelog carries it (orders.Order), a trade or refund as the pay
// store records it (pay.Trade, pay.Refund). A reconciliation compares
// every field of them, and that encoding is already documented and
// versioned with the records; a second wire copy of each would drift.

struct ExportOrdersRequest {
    1: i32 partition   // an owned partition of the instance asked
    2: string cursor   // "" for the first page, else the previous page's next_cursor
    3: i32 limit       // 1-1000; 0 means 500
}

struct ExportOrdersResponse {
    1: Status status
    2: list<binary> orders  // order records (JSON), by order number
    3: string next_cursor   // "" when there are no more
}

struct ExportPaymentsRequest {
    1: i32 partition   // an owned partition of an instance running the pay service
    2: string cursor   // "" for the first page, else the previous page's next_cursor
    3: i32 limit       // records per page, 1-1000; 0 means 500
}

struct ExportPaymentsResponse {
    1: Status status
    2: list<binary> refunds  // refund records (JSON), by key: every refund before any trade
    3: list<binary> trades   // trade records (JSON), by order number then attempt
    4: string next_cursor    // "" when there are no more
}

// BillLine is one line of a provider's daily bill (payment.BillLine).
struct BillLine {
    1: string kind            // pay or refund
    2: string out_trade_no
    3: string trade_no
    4: string out_request_no  // refund lines
    5: i64 amount_cents       // positive for both kinds
    6: string at              // RFC 3339
}

struct BillRequest {
    1: string channel  // alipay, wechat
    2: string day      // YYYY-MM-DD, a day in China Standard Time (the providers' bill day)
    3: i32 offset      // the first line wanted
    4: i32 limit       // lines per page, 1-5000; 0 means 1000
}

struct BillResponse {
    1: Status status
    2: bool available        // false: the provider has no bill for the day (not made yet, or no trade that day)
    3: list<BillLine> lines  // lines [offset, offset+limit) of the bill, in the provider's order
    4: i32 total             // the bill's line count
}

service OrderFlow {
    GetOrderResponse GetOrder(1: GetOrderRequest req)
    ListOrdersResponse ListOrders(1: ListOrdersRequest req)
    DescribeResponse Describe(1: DescribeRequest req)
    // Pay makes a new payment attempt of an order, routed by the order's gene.
    PayResponse Pay(1: PayRequest req)
    // PaymentStatus queries the provider about the order's latest attempt.
    PaymentStatusResponse PaymentStatus(1: PaymentStatusRequest req)
    // Notify verifies and applies a provider's notification. Any instance
    // takes it: one that does not own the trade's order answers NOT_OWNER.
    NotifyResponse Notify(1: NotifyRequest req)
    // Refund refunds seats of a paid order, routed by the order's gene.
    RefundResponse Refund(1: RefundRequest req)
    // GetRefund reads a refund, routed by the order number in refund_no.
    GetRefundResponse GetRefund(1: GetRefundRequest req)

    // ---- Reconciliation exports (orderflow reconcile) ----
    // ExportOrders pages through every order of an owned partition, by
    // order number. NOT_OWNER names the owner.
    ExportOrdersResponse ExportOrders(1: ExportOrdersRequest req)
    // ExportPayments pages through an owned partition's pay store: its
    // refunds, then its trades. NO_PAY_SERVICE without one.
    ExportPaymentsResponse ExportPayments(1: ExportPaymentsRequest req)
    // Bill pages through a provider's bill of a day, fetched through the
    // instance's configured provider of that channel (UNKNOWN_CHANNEL
    // without one; PROVIDER_UNAVAILABLE when it fails).
    BillResponse Bill(1: BillRequest req)
}
