// Package awsclient owns how both binaries build their AWS clients: the
// SDK's standard configuration chain untouched (env, profile, ECS task
// role, AWS_ENDPOINT_URL_* per service), plus the retry policy and the
// test-only fault injection that wrap every call.
package awsclient

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"
	"go.uber.org/zap"
)

// Options choose what the standard chain cannot.
type Options struct {
	S3ForcePathStyle bool
	// Transport wraps the HTTP transport (fault injection in tests); nil
	// leaves it alone.
	Transport func(http.RoundTripper) http.RoundTripper
	// Logger receives the SDK's own log lines at debug level (they are
	// about connection reuse and checksums, not about the export).
	Logger *zap.Logger
}

// Clients are the three services the fleet talks to.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	S3       *s3.Client
	Region   string
}

// defaultMaxAttempts is generous because workers run for hours against
// tables that may be throttled by production traffic; the backoff is capped
// so a burst costs seconds, not minutes. AWS_MAX_ATTEMPTS overrides it, as
// it does for every SDK.
const defaultMaxAttempts = 10

// Load builds the clients.
func Load(ctx context.Context, o Options) (*Clients, error) {
	maxAttempts := defaultMaxAttempts
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("AWS_MAX_ATTEMPTS %q: want a whole number of at least 1", v)
		}
		maxAttempts = n
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			log.Debug(fmt.Sprintf(format, v...), zap.String("source", "aws-sdk"), zap.String("class", string(c)))
		})),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(5*time.Minute)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = maxAttempts
				so.MaxBackoff = 10 * time.Second
				// The client-side rate limiter exists to protect a
				// struggling service from retry storms; our pacing and
				// backoff already do that and it would fail calls outright.
				so.RateLimiter = noRateLimit{}
			})
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if o.Transport != nil {
		// Wrap after loading: config loading customises the buildable
		// client (AWS_CA_BUNDLE) and refuses any other type.
		if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
			cfg.HTTPClient = &http.Client{Transport: o.Transport(bc.GetTransport()), Timeout: bc.GetTimeout()}
		}
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region configured: set AWS_REGION")
	}
	return &Clients{
		DynamoDB: dynamodb.NewFromConfig(cfg),
		SQS:      sqs.NewFromConfig(cfg),
		S3: s3.NewFromConfig(cfg, func(so *s3.Options) {
			so.UsePathStyle = o.S3ForcePathStyle
		}),
		Region: cfg.Region,
	}, nil
}

type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) { return noop, nil }
func (noRateLimit) AddTokens(uint) error                                 { return nil }

func noop() error { return nil }
