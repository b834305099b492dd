// The inventory node's RPC contract (Kitex). Callers: the gateway and the
// order flow, through the routing client. Regenerate kitex_gen/ with
// `make gen`.
namespace go inventoryrpc

// Route says whether the call reached a group leader and what became of it.
// A call with route OK has an engine result in Status.code.
enum Route {
    OK = 0,
    NOT_LEADER = 1,  // nothing applied; go to Status.leader_addr
    OVERLOADED = 2,  // nothing applied; back off
    AMBIGUOUS = 3,   // may have applied; retry with the same request id
    UNAVAILABLE = 4, // no leader or node shutting down; retry later
    BAD_REQUEST = 5, // the request is malformed; Status.detail says how
    NO_PROGRAM = 6,  // the program is not placed on any group
}

// Status ends every response.
struct Status {
    1: Route route
    2: i32 code            // the engine's stable result code (inventory.Result), 0 = ok
    3: string code_name    // its stable name, e.g. "seat_taken"
    4: string detail       // the offending seat or field, for messages only
    5: i64 applied_index   // the log index the answer reflects
    6: i32 group           // the Raft group that answered
    7: string leader_id    // NOT_LEADER: the group's leader, when known
    8: string leader_addr  // NOT_LEADER: its RPC address, when the directory has it
    // The machine-readable part of a refusal (route OK with a result, or
    // BAD_REQUEST), each set when it applies:
    9: string field          // the request field at fault, as this RPC names it ("to_leg", "seat_ids", "holders", "hold_ttl_seconds", ...)
    10: optional i32 index   // the offending item's position in that list field (a seat in seat_ids, a holder in holders)
    11: optional i64 limit   // the bound that was passed, or the largest value allowed (last stop index, seats per hold or per user)
    12: optional i64 actual  // what was found: the real total in cents (price_mismatch), the seats the user already has (user limit)
    // NOT_LEADER: the answering node's current term in the group. Terms
    // only grow, so of two answers naming different leaders the one with
    // the higher term is the newer.
    13: i64 term
}

struct Category {
    1: string id
    2: string name
    3: i64 price_cents
}

struct Seat {
    1: i32 col
    2: string label
    3: string category
    4: bool accessible
    5: bool aisle
}

struct Row {
    1: string id
    2: i32 rank
    3: list<Seat> seats
}

// Point is a place on the venue's plan in layout units (decimetres),
// each coordinate within +-1000000 (inventory.Point).
struct Point {
    1: i32 x
    2: i32 y
}

struct Section {
    1: string id
    2: string name
    3: list<Row> rows
    // position: where column 0 of the first row is on the plan
    // (inventory.Section.At); every section has one or none does.
    4: optional Point position
}

struct ProgramSpec {
    1: string id
    2: string name
    3: list<string> stops
    4: list<Category> categories
    5: list<Section> sections
    6: i64 hold_ttl_seconds
    7: i32 max_seats_per_hold
    8: i32 max_seats_per_user
    9: bool real_name
    10: bool refund_resells
    11: bool allow_orphans   // best-available may leave a single empty seat (inventory.ProgramSpec.AllowOrphans)
    12: bool refuse_orphans  // a manual hold that would leave one is refused, orphan_seat
    13: bool reserve_accessible  // general requests never take accessible seats (else only when nothing else fits)
    // focal_point: best-available seats nearest it within a rank
    // (inventory.ProgramSpec.Focal); needs every section's position.
    14: optional Point focal_point
}

struct CreateProgramRequest {
    1: ProgramSpec spec
    // group is the group the meta group's leader placed the program on,
    // as its NOT_LEADER answer named it; 0 when not known. The leader of
    // that group then waits, bounded, for its own replica of the meta
    // group to apply the placement instead of sending the caller back to
    // the meta leader. It is only a hint: the program is created where
    // the replicated placement says.
    2: i32 group
}

// CreateProgramResponse answers a create from what the node applied, so
// that a caller never has to read the program back (a read may reach a
// replica that has not applied the create yet).
struct CreateProgramResponse {
    1: Status status
    // spec is the program this id names, in the canonical encoding
    // GetProgramResponse.spec has: as created (code ok), or as stored
    // (program_exists).
    2: binary spec
    3: bool sale_open
    // identical: program_exists, and the stored program is the one this
    // create asks for. The node compares canonical encodings, the request's
    // with the defaults a create fills in (a hold TTL left out counts as
    // the stored one), so seats listed out of column order or labelled with
    // their column number are the same program. A retried create is then a
    // success.
    4: bool identical
}

struct GetProgramRequest {
    1: string program_id
    // sale_only leaves the description out: a caller that has it (a
    // program's description never changes) reads only the sale state.
    2: bool sale_only
}

struct GetProgramResponse {
    1: Status status
    // Field 2 was the description as Thrift structs, tens of bytes a seat:
    // converting and sending a program of millions of seats took longer
    // than an attempt may. Do not reuse it.
    3: bool sale_open
    // spec is the program's description in the canonical compact encoding
    // of the log and snapshots (inventory.AppendProgramSpec; decode it with
    // inventory.ReadProgramSpec): seats sorted by column within each row,
    // defaults filled in, labels equal to the column left out. A grid
    // takes a few bytes a row. Empty with sale_only.
    4: binary spec
}

struct SetSaleRequest {
    1: string program_id
    2: bool open
}

struct SetSaleResponse {
    1: Status status
}

struct BlockRequest {
    1: string program_id
    2: list<string> seat_ids
    3: i32 from_leg
    4: i32 to_leg  // 0 = the last stop
    5: bool unblock
}

struct BlockResponse {
    1: Status status
}

// Holder is a ticket holder of a real-name program. The node normalises
// id_number (Unicode compatibility forms, whitespace, letter case) before
// the hold reaches the log; see docs/inventory.md.
struct Holder {
    1: string name
    2: string id_number
    3: string id_type  // "resident_id" (default: GB 11643-1999) or "passport"
}

struct HoldRequest {
    1: binary request_id  // 16 bytes: the hashed Idempotency-Key; empty = none
    2: string program_id
    3: i64 user_id
    4: string category    // empty = any
    5: i32 count          // best-available; 0 with seat_ids
    6: bool together
    7: bool accessible
    8: i32 from_leg
    9: i32 to_leg         // 0 = the last stop
    10: list<string> seat_ids
    11: list<Holder> holders
    12: optional i64 expected_total_cents
    13: i8 seat_preference   // best-available: 0 none, 1 window, 2 aisle (inventory.SeatPosition): a block holding one first
}

struct HeldSeat {
    1: string id
    2: string label
    3: string category
    4: i64 price_cents
    5: bool refunded
}

struct Hold {
    1: i64 hold_id
    2: i64 order_no
    3: string program_id
    4: i64 user_id
    5: string status      // HELD, CONFIRMED, RELEASED, REFUNDED
    6: string reason      // RELEASED: cancelled, expired, refused
    7: i32 from_leg
    8: i32 to_leg
    9: list<HeldSeat> seats
    10: i64 total_cents
    11: i64 created_at_unix_ms
    12: i64 expires_at_unix_ms
    13: list<Holder> holders
    14: i64 created_at_unix_ns  // the leader's stamp, exact
    15: i64 expires_at_unix_ns  // from this instant on the hold is expired, whether or not a tick has run
}

struct HoldResponse {
    1: Status status
    2: Hold hold      // the hold as it is now (also after a replay, and for a replayed refusal: none)
    3: bool replayed  // the request id matched an earlier attempt: this is its outcome, success or refusal
}

// MAX_HOLD_BATCH bounds the holds of one PlaceHolds call, and the
// releases of one ReleaseHolds call.
const i32 MAX_HOLD_BATCH = 256

// PlaceHoldsRequest carries holds that travel together to one node, so
// that a busy caller pays one call for many holds. Each hold keeps its
// own request id, route and result: the batch is not atomic.
struct PlaceHoldsRequest {
    1: list<HoldRequest> holds
}

struct PlaceHoldsResponse {
    1: Status status             // BAD_REQUEST for an empty or oversize batch, which changes nothing
    2: list<HoldResponse> holds  // one per request, in order, when status is OK
}

struct GetHoldRequest {
    1: i64 hold_id
    2: bool consistent  // read through the leader
}

struct ConfirmRequest {
    1: i64 hold_id
}

struct ReleaseRequest {
    1: i64 hold_id
    2: i64 user_id  // 0 = the system
    3: string reason  // cancelled or refused
}

// ReleaseHoldsRequest carries releases that travel together to one node,
// as PlaceHoldsRequest carries holds: each keeps its own hold, route and
// result, and the batch is not atomic. A release is idempotent, so a
// batch whose answer was lost is safe to send again.
struct ReleaseHoldsRequest {
    1: list<ReleaseRequest> releases
}

struct ReleaseHoldsResponse {
    1: Status status             // BAD_REQUEST for an empty or oversize batch, which changes nothing
    2: list<HoldResponse> holds  // one per release, in order, when status is OK: as Release answers
}

struct RefundRequest {
    1: i64 hold_id
    2: list<string> seat_ids  // empty = every seat not refunded yet
}

struct RefundResponse {
    1: Status status
    2: i64 amount_cents
}

struct AvailabilityRequest {
    1: string program_id
    2: i32 from_leg
    3: i32 to_leg
    4: bool consistent
}

struct CategoryAvailability {
    1: string id
    2: i32 capacity
    3: i32 free
    4: i32 held
    5: i32 sold
    6: i32 blocked
}

struct AvailabilityResponse {
    1: Status status
    2: list<CategoryAvailability> categories
    3: string version  // the program's version as this read saw it (see SeatMapResponse)
}

struct SeatMapRequest {
    1: string program_id
    3: i32 from_leg
    4: i32 to_leg
    5: bool consistent
}

// SeatMapResponse is every seat's status over the leg range, one byte per
// seat in the program's seat order (layout order: sections, rows, columns,
// as GetProgram lists them): 0 free, 1 held, 2 sold, 3 blocked. The layout
// never changes, so callers join the two themselves and a million-seat map
// costs a megabyte.
struct SeatMapResponse {
    1: Status status
    3: binary statuses
    // version names the program's state as this read saw it: the log
    // index of its last change, then ".n" when n of its holds had expired
    // by the reading node's clock but no tick had tidied them yet. It moves
    // only when the program's seats or holds change.
    4: string version
}

struct GroupStatus {
    1: i32 group
    2: string state
    3: string leader_id
    4: i64 term
    5: i64 applied_index
    6: i64 commit_index
    7: i64 last_index
    8: list<string> voters
    9: bool writable  // this node leads the group and its leader duties run: writes are taken
}

// NodeInfo is a cluster member as the meta group's directory knows it.
struct NodeInfo {
    1: string id
    2: string rpc_addr
}

struct Placement {
    1: string program_id
    2: i32 group
}

// ListProgramsRequest pages through the programs by id: those after
// `after` (empty: from the first), at most `limit` (0: the default).
const i32 DEFAULT_LIST_PROGRAMS = 50
const i32 MAX_LIST_PROGRAMS = 200
struct ListProgramsRequest {
    1: string after
    2: i32 limit
}

// ProgramSummary is what a list of programs shows of one. The answering
// node reads its own replica of the program's group; when it has none (a
// group placed on other nodes) or has not applied the create yet, only
// the id and group are set, and known is false.
struct ProgramSummary {
    1: string id
    2: i32 group
    3: bool known
    4: string name
    5: list<string> stops
    6: bool sale_open
}

struct ListProgramsResponse {
    1: Status status
    2: list<ProgramSummary> programs  // by id
    3: bool more                      // programs follow the last one
}

struct ClusterStatusRequest {}

struct ClusterStatusResponse {
    1: Status status
    2: string node_id
    3: string raft_addr
    4: list<GroupStatus> groups
    5: list<Placement> placements
    6: list<NodeInfo> nodes  // every member that announced its RPC address, by id
    7: string rpc_addr       // this node's announced RPC address
    // drained lists the nodes an operator drained (seatd drain), by id:
    // they hand every group they lead to other voters and are given none
    // until undrained. From this node's replica of the meta group.
    8: list<string> drained
}

struct JoinRequest {
    1: string node_id
    2: string raft_addr
}

struct RemoveRequest {
    1: string node_id
}

// MembershipResponse lists the groups this node does not lead: the caller
// asks their leaders.
struct MembershipResponse {
    1: Status status
    2: list<i32> not_led_groups
}

struct TransferRequest {}

// TransferGroupRequest asks the leader of one group to hand it to another
// voter. A node that does not lead the group answers NOT_LEADER naming the
// leader; a target that is not a voter of the group, or is drained, is
// BAD_REQUEST.
struct TransferGroupRequest {
    1: i32 group
    2: string to_node
}

// DrainRequest marks a node drained (or, drained false, undrained) in the
// meta group, through its leader: NOT_LEADER names it. A drained node
// keeps its replicas and votes but is given no leadership, and hands over
// what it leads. Draining the last undrained voter, or a node that is not
// a member, is BAD_REQUEST.
struct DrainRequest {
    1: string node_id
    2: bool drained
}

// MoveStep is one step of moving a program to another group while it is
// on sale (docs/move-program.md). `seatd move` runs them in this order;
// each is idempotent, so a mover that stopped runs them all again.
enum MoveStep {
    STATUS = 0,    // read (through the leader of group) the program's move state and the group's outbox
    FREEZE = 1,    // in the source group: refuse changes (program_moving) until the move ends
    EXPORT = 2,    // in the source group: mark the frozen program exported to target_group (no ABORT from then on), then read it and its holds as a parcel
    IMPORT = 3,    // in the target group: add the parcel's program, frozen, its holds under their ids
    ACTIVATE = 4,  // in the target group: put the imported program on sale
    REPLACE = 5,   // in the meta group: place the program on target_group instead of group
    COMPLETE = 6,  // in the source group: keep the program as a forward record (program_moved)
    ABORT = 7,     // in the source group: undo FREEZE (only before EXPORT; after it, program_moving)
}

// MoveRequest runs one step on the leader of group (the meta group's
// leader for REPLACE); a NOT_LEADER answer names that group's leader.
struct MoveRequest {
    1: MoveStep step
    2: string program_id
    3: i32 group          // the group the step runs in (REPLACE: the source)
    4: i32 target_group   // FREEZE, EXPORT, REPLACE: the group the program moves to
    5: binary parcel      // IMPORT: EXPORT's parcel, at most 64 MiB
}

struct MoveResponse {
    1: Status status       // code: the engine's result (program_not_found, program_moving, ...)
    // STATUS: the program's move state in group: "" (on sale there),
    // "frozen", "exported", "moved", "incoming"; absent when the group has
    // no such program; other_group is the target (frozen, exported,
    // moved) or the source (incoming).
    2: bool exists
    3: string state
    4: i32 other_group
    5: i64 outbox_seq      // STATUS: the group's last outbox event
    6: i64 outbox_acked    // STATUS: the last one the relay published
    7: binary parcel       // EXPORT
    8: i32 placed_group    // STATUS: where this node's placement table has the program, 0 if nowhere
}

service Inventory {
    CreateProgramResponse CreateProgram(1: CreateProgramRequest req)
    GetProgramResponse GetProgram(1: GetProgramRequest req)
    SetSaleResponse SetSale(1: SetSaleRequest req)
    BlockResponse Block(1: BlockRequest req)
    HoldResponse PlaceHold(1: HoldRequest req)
    PlaceHoldsResponse PlaceHolds(1: PlaceHoldsRequest req)
    HoldResponse GetHold(1: GetHoldRequest req)
    HoldResponse Confirm(1: ConfirmRequest req)
    HoldResponse Release(1: ReleaseRequest req)
    ReleaseHoldsResponse ReleaseHolds(1: ReleaseHoldsRequest req)
    RefundResponse Refund(1: RefundRequest req)
    AvailabilityResponse Availability(1: AvailabilityRequest req)
    SeatMapResponse SeatMap(1: SeatMapRequest req)
    ClusterStatusResponse ClusterStatus(1: ClusterStatusRequest req)
    ListProgramsResponse ListPrograms(1: ListProgramsRequest req)
    MembershipResponse Join(1: JoinRequest req)
    MembershipResponse Remove(1: RemoveRequest req)
    MembershipResponse TransferLeadership(1: TransferRequest req)
    MembershipResponse TransferGroup(1: TransferGroupRequest req)
    MembershipResponse Drain(1: DrainRequest req)
    MoveResponse Move(1: MoveRequest req)
}
