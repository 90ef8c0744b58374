"""gRPC servicers: decode, call an engine, encode, map errors. No rules here."""
