{{/* Name of the chart (overridable). */}}
{{- define "kflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "kflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "kflow.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "kflow.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Name of cluster-scoped objects: unique per release namespace too. */}}
{{- define "kflow.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "kflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kflow
app.kubernetes.io/component: operator
{{- end }}

{{- define "kflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Rules the operator needs in the namespaces it watches (a ClusterRole when it watches all of them).
Flows and Executions: read and watch, patch (kopf's finalizers and annotations), status written through
the status subresource; executions are created by triggers. Task pods, the execution's volume and the
ConfigMaps it owns: created, watched and deleted (never updated). Events: kopf reports handler results.
*/}}
{{- define "kflow.namespacedRules" -}}
- apiGroups: ["kflow.dev"]
  resources: ["flows", "executions"]
  verbs: ["get", "list", "watch", "patch"]
# CronTriggers create the executions of their ticks and delete those beyond their history limits; the
# operator keeps one CronTrigger per inline Schedule trigger of a Flow.
- apiGroups: ["kflow.dev"]
  resources: ["executions"]
  verbs: ["create", "delete"]
- apiGroups: ["kflow.dev"]
  resources: ["crontriggers"]
  verbs: ["get", "list", "watch", "patch", "create", "delete"]
- apiGroups: ["kflow.dev"]
  resources: ["flows/status", "executions/status", "crontriggers/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion on task pods (clusters running OwnerReferencesPermissionEnforcement).
- apiGroups: ["kflow.dev"]
  resources: ["executions/finalizers", "crontriggers/finalizers", "flows/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "delete", "patch", "update"]
# The KV store: a ConfigMap per key, a Secret when the value came from a secret (k8s/kvstore.py).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "create", "update", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Cluster-wide, read-only: kopf discovers the CRDs it serves. */}}
{{- define "kflow.discoveryRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}
