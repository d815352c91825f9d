-- raw-1: one transfer per commit, the rows POST /v1/transfers writes for one transfer
-- (gopherpayd/transfers/engine.py, gopherpayd/outbox/): wallets locked in id order, the
-- transfer, its two entries, both balances, the two users' event numbers, two outbox
-- events, the idempotency record and a pg_notify per event. Variables: naccounts.
\set a random(1, :naccounts)
\set b 1 + (:a + random(0, :naccounts - 2)) % :naccounts
SELECT s.user_id AS su, s.wallet_id AS sw, s.email AS se, s.full_name AS sn,
       r.user_id AS ru, r.wallet_id AS rw, r.email AS re, r.full_name AS rn
FROM bench_accounts s, bench_accounts r WHERE s.n = :a AND r.n = :b \gset
BEGIN;
SELECT count(*) AS locked FROM (SELECT id FROM wallets WHERE id IN (:sw, :rw) ORDER BY id FOR UPDATE) l \gset
INSERT INTO transfers (id, kind, amount, currency, from_wallet_id, to_wallet_id, memo, initiated_by,
                       reverses_transfer_id, created_at)
VALUES (gen_random_uuid(), 'transfer', 1, 'USD', :sw, :rw, 'bench raw-1', :su, NULL, now())
RETURNING id AS tid, created_at AS tat \gset
INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at)
VALUES (gen_random_uuid(), :tid, :sw, -1, 'USD', now()), (gen_random_uuid(), :tid, :rw, 1, 'USD', now());
UPDATE wallets SET balance = balance - 1 WHERE id = :sw RETURNING balance AS sbal \gset
UPDATE wallets SET balance = balance + 1 WHERE id = :rw RETURNING balance AS rbal \gset
WITH side (user_id, event_type, direction, wallet_id, balance, other_email, other_wallet) AS (
    VALUES (:su::uuid, 'transfer.sent', 'out', :sw::uuid, :sbal::bigint, :re::text, :rw::uuid),
           (:ru::uuid, 'transfer.received', 'in', :rw::uuid, :rbal::bigint, :se::text, :sw::uuid)
), seq AS (
    UPDATE users u SET event_seq = u.event_seq + 1 FROM side WHERE u.id = side.user_id
    RETURNING u.id, u.email, u.event_seq
)
INSERT INTO outbox (id, event_type, aggregate_key, user_seq, payload, created_at, published_at)
SELECT gen_random_uuid(), side.event_type, side.user_id::text, seq.event_seq,
       json_build_object(
           'amount', 1, 'counterparty', side.other_email, 'counterparty_wallet_id', side.other_wallet,
           'currency', 'USD', 'direction', side.direction, 'email', seq.email, 'kind', 'transfer',
           'memo', 'bench raw-1', 'new_balance', side.balance, 'transfer_id', :tid::uuid,
           'user_id', side.user_id, 'wallet_id', side.wallet_id
       )::text,
       now(), NULL
FROM side JOIN seq ON seq.id = side.user_id;
INSERT INTO idempotency_keys (id, scope, key, request_hash, status_code, response_body, created_at)
VALUES (gen_random_uuid(), :su::text, 'raw-1-' || :tid::text,
        encode(sha256(convert_to(:tid::text, 'UTF8')), 'hex'), 201,
        bench_transfer_json(:tid, :tat, 'bench raw-1', :sw, :su, :se, :sn, :rw, :ru, :re, :rn), now());
SELECT pg_notify('gopherpay_events', :su::text), pg_notify('gopherpay_events', :ru::text);
COMMIT;
