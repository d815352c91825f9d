-- Bench-only helpers in the scratch database (never in the product's schema).
-- bench_accounts numbers the funded users 1..N so a pgbench script can pick two at random.
CREATE TABLE bench_accounts (
    n integer PRIMARY KEY,
    user_id uuid NOT NULL,
    wallet_id uuid NOT NULL,
    email text NOT NULL,
    full_name text NOT NULL
);

INSERT INTO bench_accounts (n, user_id, wallet_id, email, full_name)
SELECT row_number() OVER (ORDER BY u.email), u.id, w.id, u.email, u.full_name
FROM users u
JOIN wallets w ON w.owner_id = u.id AND w.currency = 'USD' AND w.kind = 'user' AND w.closed_at IS NULL
WHERE u.role = 'user';

-- The batch of one raw-batch transaction: `batch` (sender, recipient) pairs drawn from `seed`,
-- never one user paying themselves. It is a pure function of its arguments, so every statement
-- of the transaction sees the same pairs and the same transfer ids without a scratch table.
CREATE FUNCTION bench_pairs(seed bigint, client integer, accounts integer, batch integer)
RETURNS TABLE (
    g integer, transfer_id uuid,
    from_wallet uuid, to_wallet uuid, from_user uuid, to_user uuid,
    from_email text, to_email text, from_name text, to_name text
)
LANGUAGE sql STABLE AS $$
    SELECT p.g, md5(seed::text || '/' || client::text || '/' || p.g::text)::uuid,
           s.wallet_id, r.wallet_id, s.user_id, r.user_id, s.email, r.email, s.full_name, r.full_name
    FROM (
        SELECT g,
               1 + mod(abs(hashint8(seed * 4096 + g)::bigint), accounts) AS a,
               mod(abs(hashint8(seed * 4096 + 2048 + g)::bigint), accounts - 1) AS r
        FROM generate_series(1, batch) AS g
    ) p
    JOIN bench_accounts s ON s.n = p.a
    JOIN bench_accounts r ON r.n = 1 + mod(p.a + p.r, accounts)
$$;

-- The Transfer object the API answers with (TransferOut, keys sorted as the product stores it).
CREATE FUNCTION bench_transfer_json(
    transfer_id uuid, created_at timestamptz, memo text,
    from_wallet uuid, from_user uuid, from_email text, from_name text,
    to_wallet uuid, to_user uuid, to_email text, to_name text
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'amount', 1, 'created_at', created_at, 'currency', 'USD', 'direction', 'out',
        'id', transfer_id, 'kind', 'transfer', 'memo', memo,
        'recipient', json_build_object('email', to_email, 'full_name', to_name, 'system', false,
                                       'user_id', to_user, 'wallet_id', to_wallet),
        'reverses_transfer_id', NULL,
        'sender', json_build_object('email', from_email, 'full_name', from_name, 'system', false,
                                    'user_id', from_user, 'wallet_id', from_wallet)
    )::text
$$;
