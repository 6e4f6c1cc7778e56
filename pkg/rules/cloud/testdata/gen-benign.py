#!/usr/bin/env python3
"""Writes benign-cloudtrail.json: a written (not captured) corpus of
ordinary AWS activity for one day in one account: Terraform CI deploys,
autoscaling, SSO and MFA console users, applications reading their own
secrets and parameters, AWS services acting for users, patching with SSM,
a few denied calls. No record should raise a medium or higher detection.
Run it again to regenerate (deterministic)."""
import json, random, uuid, datetime

random.seed(7)
ACCT = "111122223333"
REGION = "eu-west-1"
t0 = datetime.datetime(2026, 3, 2, 8, 0, 0)
records = []

def rid():
    return str(uuid.UUID(int=random.getrandbits(128)))

def ident(kind, name):
    if kind == "user":
        return {"type": "IAMUser", "principalId": "AIDA" + name.upper()[:8], "arn": f"arn:aws:iam::{ACCT}:user/{name}",
                "accountId": ACCT, "accessKeyId": "AKIA" + name.upper()[:8].ljust(16, "X"), "userName": name}
    if kind == "mfauser":
        i = ident("user", name); i["accessKeyId"] = "ASIA" + name.upper()[:8].ljust(16, "X")
        i["sessionContext"] = {"attributes": {"creationDate": "2026-03-02T08:00:00Z", "mfaAuthenticated": "true"}}
        return i
    if kind == "role":
        role, session = name
        return {"type": "AssumedRole", "principalId": "AROAEXAMPLE:" + session, "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}",
                "accountId": ACCT, "accessKeyId": "ASIA" + session.upper()[:8].ljust(16, "Y"),
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": f"arn:aws:iam::{ACCT}:role/{role}",
                                                     "accountId": ACCT, "userName": role},
                                   "attributes": {"creationDate": "2026-03-02T08:00:00Z", "mfaAuthenticated": "false"}}}
    if kind == "service":
        return {"type": "AWSService", "invokedBy": name}
    raise ValueError(kind)

def rec(minute, who, source, name, req=None, resp=None, ip="198.51.100.20", ua="aws-cli/2.15.0", err=None, ro=None, etype="AwsApiCall", extra=None):
    r = {"eventVersion": "1.09", "userIdentity": who,
         "eventTime": (t0 + datetime.timedelta(seconds=int(minute * 60))).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "eventSource": source, "eventName": name, "awsRegion": REGION, "sourceIPAddress": ip, "userAgent": ua,
         "requestParameters": req, "responseElements": resp, "requestID": rid(), "eventID": rid(),
         "readOnly": ro if ro is not None else name.startswith(("Describe", "List", "Get", "Head", "Lookup")),
         "eventType": etype, "managementEvent": True, "recipientAccountId": ACCT, "eventCategory": "Management"}
    if err:
        r["errorCode"], r["errorMessage"] = err, "not authorized"
    if extra:
        r.update(extra)
    records.append(r)

ci = ident("role", ("github-actions-deploy", "GitHubActions-1234"))
tf_ua = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0"
asg = ident("role", ("AWSServiceRoleForAutoScaling", "AutoScaling"))
# CI: Terraform plans and applies, three times a day.
for run, start in enumerate([10, 200, 420]):
    m = start
    for api in ["DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeInstances", "DescribeLaunchTemplates",
                "DescribeAutoScalingGroups", "ListRoles", "GetRole", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion",
                "DescribeDBInstances", "ListBuckets", "GetBucketPolicy", "GetBucketAcl", "DescribeKey", "ListFunctions",
                "GetFunction", "DescribeLogGroups", "DescribeParameters", "DescribeSecret"]:
        for _ in range(random.randint(1, 4)):
            src = {"Describe": "ec2.amazonaws.com"}.get(api[:8], "iam.amazonaws.com" if "Role" in api or "Polic" in api else "ec2.amazonaws.com")
            rec(m, ci, src, api, ua=tf_ua, ip="20.42.10.7")
            m += 0.05
    rec(m, ci, "ec2.amazonaws.com", "CreateTags", {"resourcesSet": {"items": [{"resourceId": "i-0aa1"}]}}, ua=tf_ua, ip="20.42.10.7"); m += .1
    rec(m, ci, "lambda.amazonaws.com", "UpdateFunctionCode20150331v2", {"functionName": "orders-api", "publish": True}, ua=tf_ua, ip="20.42.10.7"); m += .1
    rec(m, ci, "lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2",
        {"functionName": "orders-api", "layers": [f"arn:aws:lambda:{REGION}:580247275435:layer:LambdaInsightsExtension:49",
                                                   f"arn:aws:lambda:{REGION}:{ACCT}:layer:shared-libs:12"]}, ua=tf_ua, ip="20.42.10.7"); m += .1
    rec(m, ci, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
        {"groupId": "sg-0app", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                                                            "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}, ua=tf_ua, ip="20.42.10.7"); m += .1
    rec(m, ci, "autoscaling.amazonaws.com", "UpdateAutoScalingGroup", {"autoScalingGroupName": "web", "desiredCapacity": 4}, ua=tf_ua, ip="20.42.10.7")
    if run == 1:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        rec(m + .2, ci, "iam.amazonaws.com", "CreateRole", {"roleName": "reports-worker", "assumeRolePolicyDocument": trust}, ua=tf_ua, ip="20.42.10.7")
        rec(m + .3, ci, "iam.amazonaws.com", "AttachRolePolicy", {"roleName": "reports-worker", "policyArn": f"arn:aws:iam::{ACCT}:policy/reports-s3-read"}, ua=tf_ua, ip="20.42.10.7")
        pol = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::reports/*"}]})
        rec(m + .4, ci, "iam.amazonaws.com", "PutRolePolicy", {"roleName": "reports-worker", "policyName": "inline-read", "policyDocument": pol}, ua=tf_ua, ip="20.42.10.7")
        rec(m + .5, ci, "iam.amazonaws.com", "CreatePolicy", {"policyName": "reports-s3-write", "policyDocument": pol}, ua=tf_ua, ip="20.42.10.7")
        bp = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                                               "Action": "s3:PutObject", "Resource": "arn:aws:s3:::org-trail/*"}]})
        rec(m + .6, ci, "s3.amazonaws.com", "PutBucketPolicy", {"bucketName": "org-trail", "bucketPolicy": bp}, ua=tf_ua, ip="20.42.10.7")
        rec(m + .7, ci, "s3.amazonaws.com", "PutBucketLifecycle", {"bucketName": "build-cache", "LifecycleConfiguration": {"Rule": [{"Expiration": {"Days": 30}}]}}, ua=tf_ua, ip="20.42.10.7")
# Autoscaling launches and terminates ordinary instances.
for i in range(24):
    m = 30 + i * 25
    rec(m, asg, "ec2.amazonaws.com", "RunInstances", {"instanceType": random.choice(["t3.medium", "m6i.large", "c6g.xlarge"]),
                                                      "instancesSet": {"items": [{"imageId": "ami-0abc", "minCount": 1, "maxCount": 1}]}},
        {"instancesSet": {"items": [{"instanceId": f"i-0{i:04x}"}]}}, ip="autoscaling.amazonaws.com", ua="autoscaling.amazonaws.com",
        extra={"userIdentity": dict(asg, invokedBy="autoscaling.amazonaws.com")})
    rec(m + 20, asg, "ec2.amazonaws.com", "TerminateInstances", {"instancesSet": {"items": [{"instanceId": f"i-0{i:04x}"}]}},
        ip="autoscaling.amazonaws.com", ua="autoscaling.amazonaws.com", extra={"userIdentity": dict(asg, invokedBy="autoscaling.amazonaws.com")})
# People: SSO sign-ins, an IAM user with MFA, console browsing.
for i, name in enumerate(["alice", "bob", "carol"]):
    sso = ident("role", ("AWSReservedSSO_AdministratorAccess_0123456789abcdef", name + "@example.com"))
    rec(5 + i * 40, sso, "signin.amazonaws.com", "ConsoleLogin", None, {"ConsoleLogin": "Success"}, ua="Mozilla/5.0", etype="AwsConsoleSignIn",
        extra={"additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"}})
    for j in range(30):
        api = random.choice(["DescribeInstances", "DescribeAlarms", "ListMetrics", "GetMetricData", "DescribeLogStreams", "ListBuckets",
                             "DescribeDBClusters", "ListSecrets", "DescribeTrails", "GetTrailStatus", "ListUsers"])
        rec(6 + i * 40 + j * 0.7, sso, "ec2.amazonaws.com", api, ua="Mozilla/5.0", ip="203.0.113.50")
dave = ident("mfauser", "dave")
rec(300, dict(dave), "signin.amazonaws.com", "ConsoleLogin", None, {"ConsoleLogin": "Success"}, ua="Mozilla/5.0", etype="AwsConsoleSignIn",
    extra={"additionalEventData": {"MFAUsed": "Yes"}})
rec(301, ident("user", "dave"), "iam.amazonaws.com", "CreateAccessKey", {"userName": "dave"}, ip="203.0.113.51")
rec(302, ident("user", "dave"), "iam.amazonaws.com", "CreateUser", {"userName": "contractor-eve"}, ip="203.0.113.51")
rec(303, ident("user", "dave"), "ec2.amazonaws.com", "DescribeInstanceAttribute", {"instanceId": "i-0beef", "attribute": "userData"}, ip="203.0.113.51")
rec(304, ident("user", "dave"), "ssm.amazonaws.com", "StartSession", {"target": "i-0beef"}, ip="203.0.113.51")
rec(305, ident("user", "dave"), "ssm.amazonaws.com", "SendCommand", {"documentName": "AWS-RunShellScript", "instanceIds": ["i-0beef"]}, ip="203.0.113.51")
rec(306, ident("user", "dave"), "ec2-instance-connect.amazonaws.com", "SendSSHPublicKey", {"instanceId": "i-0beef", "instanceOSUser": "ec2-user"}, ip="203.0.113.51")
# Applications read their own secrets and parameters at start.
for i in range(20):
    app = ident("role", (random.choice(["orders-api", "billing-worker", "web"]), f"i-0{i:04x}"))
    m = 31 + i * 25
    rec(m, app, "secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": "prod/db"}, ip=f"10.0.{i}.10", ua="aws-sdk-go-v2/1.25.0")
    rec(m + .01, app, "ssm.amazonaws.com", "GetParameters", {"names": ["/app/config", "/app/api-key"], "withDecryption": True}, ip=f"10.0.{i}.10", ua="aws-sdk-go-v2/1.25.0")
    rec(m + .02, app, "kms.amazonaws.com", "Decrypt", None, ip=f"10.0.{i}.10", ua="aws-sdk-go-v2/1.25.0")
    rec(m + .03, app, "sts.amazonaws.com", "GetCallerIdentity", None, ip=f"10.0.{i}.10", ua="aws-sdk-go-v2/1.25.0")
    if i % 7 == 0:  # a missing permission, retried a few times
        for k in range(3):
            rec(m + .1 + k * .05, app, "s3.amazonaws.com", "ListObjects", {"bucketName": "reports"}, ip=f"10.0.{i}.10", err="AccessDenied")
# ECS injects secrets into tasks: a service acting for the task role.
for i in range(12):
    task = ident("role", ("ecsTaskExecutionRole", f"task-{i}"))
    task["invokedBy"] = "ecs-tasks.amazonaws.com"
    rec(60 + i * 30, task, "ssm.amazonaws.com", "GetParameters", {"names": [f"/svc/p{k}" for k in range(6)], "withDecryption": True},
        ip="ecs-tasks.amazonaws.com", ua="ecs-tasks.amazonaws.com")
    rec(60.01 + i * 30, task, "secretsmanager.amazonaws.com", "GetSecretValue", {"secretId": f"svc/{i}"}, ip="ecs-tasks.amazonaws.com", ua="ecs-tasks.amazonaws.com")
# SSM Patch Manager and AWS Config: services at work.
for i in range(10):
    rec(100 + i * 40, ident("service", "ssm.amazonaws.com"), "ssm.amazonaws.com", "SendCommand",
        {"documentName": "AWS-RunPatchBaseline", "instanceIds": ["i-0aa1", "i-0aa2"]}, ip="ssm.amazonaws.com", ua="ssm.amazonaws.com")
    rec(101 + i * 40, ident("service", "config.amazonaws.com"), "config.amazonaws.com", "PutEvaluations", None, ip="config.amazonaws.com",
        ua="config.amazonaws.com", etype="AwsServiceEvent")
with open("benign-cloudtrail.json", "w") as f:
    json.dump({"Records": records}, f, indent=1)
print(len(records), "records")
