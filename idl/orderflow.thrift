// The order service's RPC contract (Kitex): one order, a buyer's orders,
// and which partitions each instance owns. Callers: the gateway, through
// the routing client (orderflow/orderclient). Regenerate kitex_gen/ with
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

service OrderFlow {
    GetOrderResponse GetOrder(1: GetOrderRequest req)
    ListOrdersResponse ListOrders(1: ListOrdersRequest req)
    DescribeResponse Describe(1: DescribeRequest req)
}
