"""Who may call: tokens and roles, UI users' passwords, slowed-down password guessing, and the audit
trail of operator actions."""
