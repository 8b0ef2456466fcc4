"""Plain boto3, no endpoint or credentials in the code: the core's environment supplies them."""
import boto3


def function_handler(event, context):
    s3 = boto3.client('s3')
    s3.create_bucket(Bucket=event['bucket'])
    s3.put_object(Bucket=event['bucket'], Key='k', Body=b'from a Lambda')
    return {'buckets': [b['Name'] for b in s3.list_buckets()['Buckets']],
            'body': s3.get_object(Bucket=event['bucket'], Key='k')['Body'].read().decode()}
