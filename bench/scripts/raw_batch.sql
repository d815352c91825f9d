-- raw-batch: `batch` transfers per commit, set-based: one statement per table for the whole
-- batch (the users' event numbers and the outbox events share one). The same rows as raw-1.
-- Variables: naccounts, batch.
\set seed random(1, 1000000000000000)
BEGIN;
SELECT count(*) AS locked FROM (
    SELECT w.id FROM wallets w
    WHERE w.id IN (SELECT unnest(ARRAY[p.from_wallet, p.to_wallet])
                   FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p)
    ORDER BY w.id FOR UPDATE
) l \gset
INSERT INTO transfers (id, kind, amount, currency, from_wallet_id, to_wallet_id, memo, initiated_by,
                       reverses_transfer_id, created_at)
SELECT p.transfer_id, 'transfer', 1, 'USD', p.from_wallet, p.to_wallet, 'bench raw-batch', p.from_user,
       NULL, now()
FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p;
INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at)
SELECT gen_random_uuid(), p.transfer_id, side.wallet_id, side.amount, 'USD', now()
FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p
CROSS JOIN LATERAL (VALUES (p.from_wallet, -1::bigint), (p.to_wallet, 1::bigint)) AS side (wallet_id, amount);
UPDATE wallets w SET balance = w.balance + d.delta
FROM (
    SELECT side.wallet_id, sum(side.amount) AS delta
    FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p
    CROSS JOIN LATERAL (VALUES (p.from_wallet, -1::bigint), (p.to_wallet, 1::bigint)) AS side (wallet_id, amount)
    GROUP BY side.wallet_id
) d
WHERE w.id = d.wallet_id;
WITH ev AS (
    SELECT p.g, p.transfer_id, side.*
    FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p
    CROSS JOIN LATERAL (VALUES
        (p.from_user, 'transfer.sent', 'out', p.from_wallet, -1::bigint, p.to_email, p.to_wallet),
        (p.to_user, 'transfer.received', 'in', p.to_wallet, 1::bigint, p.from_email, p.from_wallet)
    ) AS side (user_id, event_type, direction, wallet_id, delta, other_email, other_wallet)
), seq AS (
    UPDATE users u SET event_seq = u.event_seq + c.events
    FROM (SELECT user_id, count(*) AS events FROM ev GROUP BY user_id) c
    WHERE u.id = c.user_id
    RETURNING u.id, u.email, u.event_seq
), ranked AS (
    SELECT ev.*,
           row_number() OVER (PARTITION BY ev.user_id ORDER BY ev.g) AS rank,
           count(*) OVER (PARTITION BY ev.user_id) AS events,
           coalesce(sum(ev.delta) OVER (PARTITION BY ev.wallet_id ORDER BY ev.g
                                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS later
    FROM ev
)
INSERT INTO outbox (id, event_type, aggregate_key, user_seq, payload, created_at, published_at)
SELECT gen_random_uuid(), r.event_type, r.user_id::text, s.event_seq - r.events + r.rank,
       json_build_object(
           'amount', 1, 'counterparty', r.other_email, 'counterparty_wallet_id', r.other_wallet,
           'currency', 'USD', 'direction', r.direction, 'email', s.email, 'kind', 'transfer',
           'memo', 'bench raw-batch', 'new_balance', w.balance - r.later, 'transfer_id', r.transfer_id,
           'user_id', r.user_id, 'wallet_id', r.wallet_id
       )::text,
       now(), NULL
FROM ranked r JOIN seq s ON s.id = r.user_id JOIN wallets w ON w.id = r.wallet_id;
INSERT INTO idempotency_keys (id, scope, key, request_hash, status_code, response_body, created_at)
SELECT gen_random_uuid(), p.from_user::text, 'raw-batch-' || p.transfer_id::text,
       encode(sha256(convert_to(p.transfer_id::text, 'UTF8')), 'hex'), 201,
       bench_transfer_json(p.transfer_id, now(), 'bench raw-batch', p.from_wallet, p.from_user, p.from_email,
                           p.from_name, p.to_wallet, p.to_user, p.to_email, p.to_name),
       now()
FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p;
SELECT count(pg_notify('gopherpay_events', t.user_id::text)) AS notified
FROM (SELECT DISTINCT unnest(ARRAY[p.from_user, p.to_user]) AS user_id
      FROM bench_pairs(:seed, :client_id, :naccounts, :batch) p) t \gset
COMMIT;
