"""The same tiny JSON view behind each kind of authentication that the benchmark compares."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from apikeys.viewsets import ScopedViewSet


def answer():
    return Response({"ok": True})


class NoAuthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return answer()


class TokenView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    def get(self, request):
        return answer()


class HasApiKeyView(APIView):
    authentication_classes = []
    permission_classes = [HasAPIKey]
    throttle_classes = []

    def get(self, request):
        return answer()


class OursViewSet(ScopedViewSet):
    """Our authentication, scope permission and rate limit, on the tiny view."""

    required_scopes = {"retrieve": "workspace:read"}

    def retrieve(self, request, ws):
        return answer()
