"""When jobs fire: cron expressions, the scheduling actor with catch-up, and the leadership that
lets one engine among replicas fire cron."""
