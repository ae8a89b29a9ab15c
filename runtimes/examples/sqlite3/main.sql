-- The run's stdin and args are the tables stdin(n, line) and args(n, arg).
SELECT 'Hello, ' || coalesce((SELECT line FROM stdin WHERE n = 1), '') || '!';
SELECT 'arg: ' || arg FROM args ORDER BY n;
SELECT 'Grüße, 世界 ✓' WHERE EXISTS (SELECT 1 FROM args);
