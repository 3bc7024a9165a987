"""Pure scheduling logic of CronTriggers (no Kubernetes): cron ticks in a time zone, missed-tick recovery,
backfill planning and execution naming. The kopf side lives in kflow.k8s.crontriggers."""
