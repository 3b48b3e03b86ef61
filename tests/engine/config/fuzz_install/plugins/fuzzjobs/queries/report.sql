-- name: count-runs
SELECT count(*) AS runs FROM ly2_job_runs WHERE job_name = :job;
