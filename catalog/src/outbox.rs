//! The mail outbox: every statement on `outbox` (rows are written in the transaction of the
//! event they tell of, and marked sent by the sender).
